"""Collate processed samples into one padded batch, and the token budget that sizes batches.

`pad_collate(samples)` right-pads the sequence keys to the longest sample: `input_ids` with `pad_id`,
`labels` with -100, any other 1-D tensor as long as its sample's `input_ids` (position ids, token types)
with 0, and adds `attention_mask`. Other tensors are stacked when every sample's shape agrees, else kept as
a list (variable-size pixels). A key missing from some samples is kept as a list of those present. Inside
a DataLoader worker the batch tensors are allocated in shared memory, as torch's default collate does, so
they reach the trainer process without another copy.

`TokenBudget` forms batches greedily: a sample joins the batch unless it would lift the batch's token sum
above `max_tokens`, in which case the batch is closed and the sample opens the next one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.utils.data import get_worker_info

from model.processor import IGNORE_INDEX

Collate = Callable[[list[dict[str, torch.Tensor]]], dict[str, Any]]


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A new tensor; in shared memory when called in a DataLoader worker."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(math.prod(shape), device="cpu")
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


def pad_collate(samples: list[dict[str, torch.Tensor]], pad_id: int = 0,
                length_key: str = "input_ids") -> dict[str, Any]:
    """One batch from processed samples, as the module docstring says."""
    lengths = [len(s[length_key]) for s in samples]
    width = max(lengths)
    batch: dict[str, Any] = {}
    keys = list(dict.fromkeys(k for s in samples for k in s))
    for key in keys:
        values = [s[key] for s in samples if key in s]
        is_seq = len(values) == len(samples) and all(
            v.dim() == 1 and len(v) == n for v, n in zip(values, lengths))
        if is_seq:
            fill = pad_id if key == length_key else IGNORE_INDEX if key == "labels" else 0
            out = _empty((len(samples), width), values[0].dtype).fill_(fill)
            for i, v in enumerate(values):
                out[i, :len(v)] = v
            batch[key] = out
        elif len(values) == len(samples) and len({tuple(v.shape) for v in values}) == 1:
            batch[key] = torch.stack(values, out=_empty((len(values), *values[0].shape), values[0].dtype))
        else:
            batch[key] = values
    mask = _empty((len(samples), width), torch.long).zero_()
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    batch["attention_mask"] = mask
    return batch


def batch_counts(batch: dict[str, Any]) -> tuple[int, int]:
    """(samples, tokens) of a `pad_collate` batch, for the throughput meter."""
    mask = batch["attention_mask"]
    return int(mask.shape[0]), int(mask.sum())


@dataclass
class TokenBudget:
    """Greedy batch forming under a token budget."""

    max_tokens: int
    items: list[Any] = field(default_factory=list)
    tokens: int = 0

    def fits(self, tokens: int) -> bool:
        """Whether a sample of `tokens` joins the open batch (an empty batch takes any sample in budget)."""
        return self.tokens + tokens <= self.max_tokens

    def add(self, item: Any, tokens: int) -> None:
        self.items.append(item)
        self.tokens += tokens

    def take(self) -> list[Any]:
        """The open batch's items; the budget starts a new batch."""
        items, self.items, self.tokens = self.items, [], 0
        return items
