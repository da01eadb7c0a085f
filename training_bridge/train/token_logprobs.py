"""Scoring a batch's labelled tokens: their count, their log-probabilities, and micro-batches of items to score.

`token_logprobs` serves every loss: SFT, GRPO, RLPR and DPO; it never forms the full logits
(`model.chunked_logprobs`).
"""
from __future__ import annotations

from typing import Any

import torch

from model.chunked_logprobs import DEFAULT_CHUNK
from model.processor import IGNORE_INDEX


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
