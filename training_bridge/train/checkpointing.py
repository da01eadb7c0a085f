"""Training checkpoints: model, optimizer, LR scheduler, data position and RNG, with nothing pickled.

Layout of `{out_dir}/checkpoints/step-{step:08d}/`:

    model/                    mmcorpus_config.json + model.safetensors (`model.checkpoint` format:
                              `load_checkpoint` reads it, e.g. to start RL from an SFT run)
    optimizer.safetensors     every optimizer state tensor, keyed "{param fqn}/{name}"
    trainer.json              step, optimizer param groups, scheduler state, caller's extra state
    rank-{r}.json             this rank's data-loader state and Python RNG state
    rank-{r}.safetensors      this rank's torch RNG states (CPU, CUDA)

Model and optimizer states are full (unsharded) state dicts keyed by parameter name, gathered with
`torch.distributed.checkpoint.state_dict`, so a checkpoint written under FSDP, DDP or one process loads
under any of them. A checkpoint is written to `step-N.tmp` and renamed when every rank has written its
files; `latest_checkpoint` only sees complete ones. The `keep` newest are kept.
"""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from model.checkpoint import INDEX_NAME, WEIGHTS_NAME, save_checkpoint
from training_bridge.train.distributed import DistEnv, barrier, unwrap

CHECKPOINTS = "checkpoints"
_SEP = "/"


@dataclass
class Resumed:
    """What a loaded checkpoint hands back to the loop besides the restored modules."""

    step: int
    loader_state: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class _StateView:
    """Duck-types the two things `save_checkpoint` reads from a model: its config and a state dict."""

    def __init__(self, config, state: dict[str, torch.Tensor]) -> None:
        self.config, self._state = config, state

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / CHECKPOINTS / f"step-{step:08d}"


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint under `out_dir`, or None."""
    root = Path(out_dir) / CHECKPOINTS
    done = sorted(p for p in root.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")) if root.is_dir() else []
    return done[-1] if done else None


def _options(cpu_offload: bool = True) -> StateDictOptions:
    return StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload)


def save_model(model: nn.Module, directory: str | Path, env: DistEnv) -> None:
    """Full weights of a (possibly wrapped) model in the `model.checkpoint` format, written by rank 0."""
    state, _ = get_state_dict(model, [], options=_options())
    if env.is_main:
        save_checkpoint(_StateView(unwrap(model).config, state), directory)
    barrier(env)


def save_training_state(
    out_dir: str | Path, step: int, env: DistEnv, model: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, loader_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None, keep: int = 2,
) -> Path:
    """Write checkpoint `step` (collective: every rank calls it) and prune to the `keep` newest."""
    final = checkpoint_dir(out_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if env.is_main and tmp.exists():
        shutil.rmtree(tmp)
    barrier(env)
    model_state, optim_state = get_state_dict(model, [optimizer], options=_options())
    if env.is_main:
        tmp.mkdir(parents=True)
        save_checkpoint(_StateView(unwrap(model).config, model_state), tmp / "model")
        tensors, groups = _flatten_optimizer(optim_state)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        trainer = {"step": step, "param_groups": groups,
                   "scheduler": scheduler.state_dict() if scheduler is not None else None, "extra": extra or {}}
        (tmp / "trainer.json").write_text(json.dumps(trainer, indent=1))
    barrier(env)
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, str(tmp / f"rank-{env.rank}.safetensors"))
    (tmp / f"rank-{env.rank}.json").write_text(json.dumps({"loader": loader_state or {}, "python_rng": random.getstate()}))
    barrier(env)
    if env.is_main:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        done = sorted(p for p in final.parent.glob("step-*") if not p.name.endswith(".tmp"))
        for old in done[:-keep] if keep > 0 else []:
            shutil.rmtree(old)
    barrier(env)
    return final


def load_training_state(
    directory: str | Path, env: DistEnv, model: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> Resumed:
    """Restore what `save_training_state` wrote into freshly built `model`, `optimizer`, `scheduler`."""
    directory = Path(directory)
    trainer = json.loads((directory / "trainer.json").read_text())
    weights = read_weights(directory / "model")
    optim_state = _unflatten_optimizer(load_file(str(directory / "optimizer.safetensors")), trainer["param_groups"])
    set_state_dict(model, [optimizer], model_state_dict=weights, optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))
    if scheduler is not None and trainer["scheduler"] is not None:
        scheduler.load_state_dict(trainer["scheduler"])
    rank_file = directory / f"rank-{env.rank}.json"
    rank_state = json.loads(rank_file.read_text()) if rank_file.is_file() else {"loader": {}, "python_rng": None}
    rng = load_file(str(directory / f"rank-{env.rank}.safetensors")) if rank_file.is_file() else {}
    if "cpu" in rng:
        torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    if rank_state["python_rng"] is not None:
        version, state, gauss = rank_state["python_rng"]
        random.setstate((version, tuple(state), gauss))
    return Resumed(step=trainer["step"], loader_state=rank_state["loader"], extra=trainer["extra"])


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    tensors: dict[str, torch.Tensor] = {}
    for fqn, entries in state["state"].items():
        for name, value in entries.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{fqn}{_SEP}{name}"] = t.detach().to("cpu").contiguous()
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in state["param_groups"]]
    return tensors, groups


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        fqn, name = key.rsplit(_SEP, 1)
        state.setdefault(fqn, {})[name] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in groups]
    return {"state": state, "param_groups": groups}


def read_weights(directory: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a `model.checkpoint` folder (single file or shards with an index), on the CPU."""
    directory = Path(directory)
    index = directory / INDEX_NAME
    names = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else [WEIGHTS_NAME]
    weights: dict[str, torch.Tensor] = {}
    for name in names:
        weights.update(load_file(str(directory / name)))
    return weights
