"""Checkpoints in safetensors only (nothing is ever unpickled).

* :func:`save_checkpoint` / :func:`load_checkpoint`: our own format, a directory with ``mmcorpus_config.json``
  and the weights in the Hugging Face layout (``model.safetensors``, or shards plus
  ``model.safetensors.index.json``); the round trip is exact.
* :func:`load_official`: the released MiniCPM-V 4.5 weights from a local directory in its Hugging Face layout.
  Every key is mapped by :func:`map_official_key`; the report lists what mapped and what was skipped, and any
  unknown key, missing parameter or shape mismatch raises :class:`CheckpointMismatch` before anything is copied.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from model.config import MiniCPMVConfig
from model.minicpmv import MiniCPMV

logger = logging.getLogger(__name__)

CONFIG_NAME = "mmcorpus_config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"

# Released prefix → our prefix. Module names were chosen so that the rest of each key is identical.
OFFICIAL_PREFIXES = {"vpm.": "vpm.", "resampler.": "resampler.", "llm.": "llm."}
# Recomputed buffers some exports contain; they carry no learned state and are skipped (reported).
RECOMPUTED_BUFFERS = (
    "rotary_emb.inv_freq",
    "embeddings.position_ids",
    "resampler.pos_embed",
    "resampler.temporal_pos_embed",
)


class CheckpointMismatch(RuntimeError):
    """The checkpoint's keys or shapes do not match the model."""


@dataclass(frozen=True)
class LoadReport:
    """``mapped``: (checkpoint key, model key) pairs copied; ``skipped``: recomputed buffers ignored."""

    mapped: list[tuple[str, str]]
    skipped: list[str]

    def summary(self) -> dict[str, int]:
        counts = Counter(dst.split(".", 1)[0] for _, dst in self.mapped)
        return {**counts, "skipped": len(self.skipped)}


def map_official_key(key: str) -> str | None:
    """Model key for a released checkpoint key; None for a recomputed buffer; KeyError if unknown."""
    if key.endswith(RECOMPUTED_BUFFERS):
        return None
    for src, dst in OFFICIAL_PREFIXES.items():
        if key.startswith(src):
            return dst + key[len(src) :]
    raise KeyError(key)


def _weight_files(directory: Path) -> list[Path]:
    index = directory / INDEX_NAME
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [directory / name for name in sorted(set(weight_map.values()))]
    single = directory / WEIGHTS_NAME
    if single.is_file():
        return [single]
    raise FileNotFoundError(f"no {INDEX_NAME} or {WEIGHTS_NAME} in {directory}")


def _checkpoint_keys(files: list[Path]) -> dict[str, tuple[Path, list[int]]]:
    keys: dict[str, tuple[Path, list[int]]] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                keys[key] = (path, list(f.get_slice(key).get_shape()))
    return keys


def _iter_tensors(files: list[Path]) -> Iterator[tuple[str, torch.Tensor]]:
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                yield key, f.get_tensor(key)


def _load_into(model: MiniCPMV, files: list[Path], mapping: dict[str, str]) -> None:
    params = model.state_dict(keep_vars=True)
    with torch.no_grad():
        for key, tensor in _iter_tensors(files):
            if key in mapping:
                target = params[mapping[key]]
                target.copy_(tensor.to(device=target.device, dtype=target.dtype))


def _check(model: MiniCPMV, keys: dict[str, tuple[Path, list[int]]], mapping: dict[str, str], unknown: list[str]) -> None:
    own = model.state_dict()
    problems = [f"unknown checkpoint key {k}" for k in unknown]
    problems += [f"model has no parameter {dst} (checkpoint key {src})" for src, dst in mapping.items() if dst not in own]
    problems += [
        f"shape of {src} {keys[src][1]} != {dst} {list(own[dst].shape)}"
        for src, dst in mapping.items()
        if dst in own and keys[src][1] != list(own[dst].shape)
    ]
    covered = set(mapping.values())
    problems += [f"checkpoint lacks {k}" for k in own if k not in covered]
    if problems:
        raise CheckpointMismatch(f"{len(problems)} problem(s):\n" + "\n".join(problems))


def load_official(model: MiniCPMV, directory: str | Path) -> LoadReport:
    """Copy the released weights in ``directory`` into ``model`` (cast to its dtypes), or raise before copying."""
    files = _weight_files(Path(directory))
    keys = _checkpoint_keys(files)
    mapping, skipped, unknown = {}, [], []
    for key in keys:
        try:
            dst = map_official_key(key)
        except KeyError:
            unknown.append(key)
            continue
        if dst is None:
            skipped.append(key)
        else:
            mapping[key] = dst
    _check(model, keys, mapping, unknown)
    _load_into(model, files, mapping)
    report = LoadReport(mapped=sorted(mapping.items()), skipped=sorted(skipped))
    logger.info("loaded %s from %s: %s", len(mapping), directory, report.summary())
    return report


def save_checkpoint(model: MiniCPMV, directory: str | Path, max_shard_bytes: int = 5 * 1024**3) -> None:
    """Write the config and the weights (sharded above ``max_shard_bytes``, with an index) to ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_NAME).write_text(json.dumps(model.config.to_dict(), indent=2))
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in model.state_dict().items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = tensor.detach().to("cpu").contiguous()
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(directory / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
    total = sum(t.numel() * t.element_size() for s in shards for t in s.values())
    (directory / INDEX_NAME).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def load_checkpoint(directory: str | Path, dtype: torch.dtype | None = None) -> MiniCPMV:
    """Rebuild the model saved by :func:`save_checkpoint` (strict: every key, every shape)."""
    directory = Path(directory)
    config = MiniCPMVConfig.from_dict(json.loads((directory / CONFIG_NAME).read_text()))
    model = MiniCPMV(config)
    if dtype is not None:
        model.to(dtype)
    files = _weight_files(directory)
    keys = _checkpoint_keys(files)
    own = model.state_dict()
    unknown = [k for k in keys if k not in own]
    mapping = {k: k for k in keys if k in own}
    _check(model, keys, mapping, unknown)
    _load_into(model, files, mapping)
    return model
