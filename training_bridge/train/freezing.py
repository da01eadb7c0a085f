"""Stage-wise freezing (paper §2.2-2.3, Appendix A): which of vision encoder, resampler and LLM are trained.

    resampler  PT-1: only the 3D-Resampler (captions)
    vision     PT-2: vision encoder + resampler, LLM frozen (OCR-rich data, captions)
    all        PT-3, SFT, RL, DPO: every parameter

`freeze_for_stage(model, stage)` sets `requires_grad` and returns the trainable parameter counts per part;
the optimizer is then built over `trainable_parameters(model)` only; frozen parts hold no optimizer state
and no gradients, and `cast_frozen` stores them in bf16 for bf16 runs without FSDP.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from model.minicpmv import MiniCPMV

log = logging.getLogger(__name__)

#: stage → (vpm, resampler, llm) trainable
STAGES: dict[str, tuple[bool, bool, bool]] = {
    "resampler": (False, True, False),
    "vision": (True, True, False),
    "all": (True, True, True),
}


def freeze_for_stage(model: MiniCPMV, stage: str) -> dict[str, int]:
    """Freeze `model` for `stage`; `{part: trainable parameters}` for vpm, resampler, llm."""
    if stage not in STAGES:
        raise ValueError(f"unknown freeze stage {stage!r}; choose one of {sorted(STAGES)}")
    vpm, resampler, llm = STAGES[stage]
    model.set_trainable(vpm=vpm, resampler=resampler, llm=llm)
    counts = {name: sum(p.numel() for p in getattr(model, name).parameters() if p.requires_grad)
              for name in ("vpm", "resampler", "llm")}
    log.info("freeze stage %r: trainable parameters %s", stage, counts)
    return counts


def cast_frozen(model: MiniCPMV, dtype: torch.dtype) -> list[str]:
    """Cast the parts frozen end to end (no trainable parameter) to `dtype` (bf16 runs: half the memory,
    nothing to keep a master copy for); the names of the parts cast."""
    cast = []
    for name in ("vpm", "resampler", "llm"):
        part = getattr(model, name)
        if not any(p.requires_grad for p in part.parameters()):
            part.to(dtype)
            cast.append(name)
    return cast


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer updates."""
    return [p for p in model.parameters() if p.requires_grad]
