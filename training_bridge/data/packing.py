"""Packed batches: a token-budget batch of samples laid end to end in one row, attention kept per sample.

    batch = pack_collate(samples, pad_token_id)       # samples: `SftTransform` outputs (dicts)

The row holds every sample's ids back to back (no padding: the stream's token budget already bounds the
row). `position_ids` restart at 0 at each sample and there is no attention mask: transformers' Qwen3
then attends within each sample only (a block-causal mask under SDPA; varlen kernels under
FlashAttention), so each sample's token losses equal those of the sample alone in a padded batch.
Each sample's first label is set to -100, so no target crosses from one sample into the next (that
label is never a target in a padded batch either). Visual inputs are concatenated in sample order and
`image_bound` ranges are shifted by each sample's offset in the row.
"""
from __future__ import annotations

from typing import Any

import torch

from model.processor import IGNORE_INDEX


def pack_collate(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """One packed row (batch size 1) from processed samples; see the module docstring."""
    if not samples:
        raise ValueError("nothing to pack")
    del pad_token_id  # a packed row has no padding; the argument keeps the collate signature of model_collate
    ids, labels, positions, bounds = [], [], [], []
    offset = 0
    for s in samples:
        n = len(s["input_ids"])
        ids.append(s["input_ids"])
        lab = s["labels"].clone()
        lab[0] = IGNORE_INDEX
        labels.append(lab)
        positions.append(torch.arange(n, dtype=torch.long))
        if len(s["image_bound"]):
            bounds.append(s["image_bound"] + offset)
        offset += n
    return {
        "input_ids": torch.cat(ids)[None],
        "labels": torch.cat(labels)[None],
        "position_ids": torch.cat(positions)[None],
        "attention_mask": None,
        "sample_lengths": torch.tensor([len(s["input_ids"]) for s in samples]),
        "pixel_values": [p for s in samples for p in s["pixel_values"]],
        "tgt_sizes": torch.cat([s["tgt_sizes"] for s in samples]),
        "image_bound": [torch.cat(bounds) if bounds else torch.zeros((0, 2), dtype=torch.long)],
        "temporal_ids": [t for s in samples for t in s["temporal_ids"]],
    }


def batch_samples(batch: dict[str, Any]) -> int:
    """Samples in a padded or packed model batch."""
    lengths = batch.get("sample_lengths")
    return int(len(lengths)) if lengths is not None else int(batch["input_ids"].shape[0])


def batch_tokens(batch: dict[str, Any]) -> int:
    """Real (non-padding) tokens in a padded or packed model batch."""
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
