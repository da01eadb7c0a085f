"""The seam between the data side and the model: build the model, process records, batch, score tokens.

* `build_model(spec, seed)`: a `MiniCPMV` and its `MiniCPMVProcessor` from a `ModelSpec` (checkpoint,
  released weights, or a fresh preset seeded by `seed`); a real tokenizer for every model but `tiny`.
* `SftTransform`: the stream's `Processor` hook: a `SampleRecord` and its decoded images (or video
  frames, grouped by the record's `temporal_ids`) through the model processor, as a plain dict the
  DataLoader can pickle. `model_collate` turns a list of those into the batch `MiniCPMV.forward` takes.
* `token_logprobs`: log-probabilities of the labelled tokens of a batch (SFT loss, GRPO, RLPR, DPO).
* `autocast(device, precision)`: bf16 autocast on CUDA when asked (or "auto"), nothing on CPU.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from corpus.errors import UserError
from model.checkpoint import CONFIG_NAME, load_checkpoint, load_official
from model.chunked_logprobs import DEFAULT_CHUNK
from model.config import CONFIGS, MiniCPMVConfig, tiny_special_tokens
from model.minicpmv import MiniCPMV
from model.processor import IGNORE_INDEX, MiniCPMVProcessor, ProcessedSample, Video, collate
from model.tokenizer import TextTokenizer, check_tokenizer, load_tokenizer
from schemas.record import SampleRecord
from training_bridge.train.train_config import ModelSpec

log = logging.getLogger(__name__)


def build_model(spec: ModelSpec, seed: int = 0) -> tuple[MiniCPMV, MiniCPMVProcessor]:
    """The model (fp32, on CPU) and its processor, as the module docstring says; the tokenizer is checked
    before any weight is built."""
    if spec.init:
        config = MiniCPMVConfig.from_dict(json.loads((Path(spec.init) / CONFIG_NAME).read_text()))
    else:
        config = CONFIGS[spec.preset]()
    tokenizer = model_tokenizer(spec, config)
    if spec.init:
        model = load_checkpoint(spec.init)
        log.info("loaded %s", spec.init)
    else:
        torch.manual_seed(seed)
        model = MiniCPMV(config)
        if spec.official:
            load_official(model, spec.official)
    if spec.attention is not None:
        model.set_attention(spec.attention)
    config = model.config
    if spec.max_slice_nums is not None:
        config = dataclasses.replace(config, slicing=dataclasses.replace(config.slicing, max_slice_nums=spec.max_slice_nums))
    return model, MiniCPMVProcessor.from_config(config, tokenizer)


def model_tokenizer(spec: ModelSpec, config: MiniCPMVConfig) -> TextTokenizer | None:
    """The real tokenizer of `spec` (`tokenizer`, else the `official` or `init` folder's), checked against the
    model's special tokens; None (the byte tokenizer) only for the byte-level `tiny` layout.

    A model with the released vocabulary and no tokenizer is refused: byte ids 0-255 fed to Qwen3 weights
    train the LLM on garbage while the loss still falls.
    """
    folder = spec.tokenizer or spec.official or (spec.init if spec.init and _has_tokenizer(Path(spec.init)) else None)
    if folder is None:
        if config.special_tokens == tiny_special_tokens():
            return None
        raise UserError(f"model.preset {spec.preset!r} (or the weights of model.official / model.init) needs the "
                        "real Qwen3 tokenizer, not the byte stand-in: set model.tokenizer to the released "
                        "checkpoint folder (tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json)")
    tokenizer = load_tokenizer(folder)
    check_tokenizer(tokenizer, config.special_tokens, config.llm.vocab_size, str(folder))
    log.info("tokenizer from %s (%d ids)", folder, tokenizer.vocab_size)
    return tokenizer


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file()


def record_messages(record: SampleRecord) -> list[dict[str, str]]:
    """The record's conversation as chat-template messages."""
    return [{"role": t.role, "content": t.content} for t in record.conversations]


def record_media(record: SampleRecord, images: list[Image.Image]) -> tuple[list[Image.Image], list[Video]]:
    """`(images, videos)`: decoded frames form one video when the record carries temporal ids."""
    if record.temporal_ids:
        return [], [Video(frames=images, packages=record.temporal_ids)]
    return images, []


def sample_to_dict(sample: ProcessedSample) -> dict[str, Any]:
    """A `ProcessedSample` as a dict (`input_ids` first: the stream counts its length)."""
    return {f.name: getattr(sample, f.name) for f in dataclasses.fields(sample)}


class SftTransform:
    """The stream's processor hook for SFT: the record's full conversation with assistant labels.

    Raises (and the stream skips the sample, counted by reason) when the markers and media disagree or
    the sample has no trained token.
    """

    def __init__(self, processor: MiniCPMVProcessor) -> None:
        self.processor = processor

    def __call__(self, record: SampleRecord, images: list[Image.Image]) -> dict[str, Any]:
        imgs, videos = record_media(record, images)
        sample = self.processor(record_messages(record), imgs, videos)
        if not bool((sample.labels != IGNORE_INDEX).any()):
            raise ValueError("no assistant tokens to train")
        return sample_to_dict(sample)


def model_collate(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """`SftTransform` outputs → one right-padded model batch (`model.processor.collate`)."""
    return collate([ProcessedSample(**s) for s in samples], pad_token_id)


def label_tokens(batch: dict[str, Any]) -> int:
    """Tokens that carry the loss (labels shifted by one, as the model predicts the next token)."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def token_logprobs(model: torch.nn.Module, batch: dict[str, Any], chunk_size: int = DEFAULT_CHUNK
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """`(logp, mask)`, both `(B, T-1)`: log p(token t+1 | ..t) at labelled positions (0 elsewhere), and the mask.

    The model scores only labelled positions, `chunk_size` at a time in fp32, never the full logits
    (`model.chunked_logprobs`). Packed batches (`training_bridge.data.packing`) carry `position_ids` and no mask.
    """
    labels = batch["labels"]
    targets = torch.full_like(labels, IGNORE_INDEX)
    targets[:, :-1] = labels[:, 1:]
    extra = {"position_ids": batch["position_ids"]} if batch.get("position_ids") is not None else {}
    values = model(
        input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), pixel_values=batch["pixel_values"],
        tgt_sizes=batch["tgt_sizes"], image_bound=batch["image_bound"], temporal_ids=batch["temporal_ids"],
        logprob_targets=targets, logprob_chunk=chunk_size, **extra,
    )
    mask = targets[:, :-1] != IGNORE_INDEX
    logp = torch.zeros(mask.shape, dtype=values.dtype, device=values.device)
    return logp.masked_scatter(mask, values), mask


def chunks(items: list[int], size: int) -> list[list[int]]:
    """Consecutive pieces of at most `size` items (micro-batches)."""
    return [items[i : i + size] for i in range(0, len(items), max(size, 1))]


def bf16_compute(device: torch.device, precision: str) -> bool:
    """Whether a run computes in bf16: "bf16", or "auto" on CUDA; "fp32" or "auto" elsewhere do not."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {precision!r}")
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast when `bf16_compute`; no autocast otherwise."""
    if bf16_compute(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
