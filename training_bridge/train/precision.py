"""Compute precision of a run: whether it computes in bf16, and the autocast context for its forward passes."""
from __future__ import annotations

import contextlib

import torch


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
