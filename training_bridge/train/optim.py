"""AdamW over the trainable parameters and the LR schedules of the paper's stages (`OptimConfig`).

`lr_factor(step, cfg, total_steps)` is the multiplier of `cfg.lr` at optimizer step `step` (0-based):
linear warmup over `warmup_steps`, then "constant", "cosine" (down to `min_lr` at `total_steps`) or
"wsd" (flat, then linear to `min_lr` over the last `decay_steps`). The scheduler is a `LambdaLR` over
it, whose state (a step counter and the last LRs) is plain JSON in the checkpoint.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from training_bridge.train.freezing import trainable_parameters
from training_bridge.train.train_config import OptimConfig

SCHEDULES = ("constant", "cosine", "wsd")


def lr_factor(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """Multiplier of `cfg.lr` at `step`; see the module docstring."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    floor = cfg.min_lr / cfg.lr if cfg.lr else 0.0
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        span = max(total_steps - cfg.warmup_steps, 1)
        progress = min((step - cfg.warmup_steps) / span, 1.0)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "wsd":
        start = total_steps - cfg.decay_steps
        if step < start or cfg.decay_steps <= 0:
            return 1.0
        return 1.0 - (1.0 - floor) * min((step - start + 1) / cfg.decay_steps, 1.0)
    raise ValueError(f"unknown schedule {cfg.schedule!r}; choose one of {SCHEDULES}")


def build_optimizer(model: nn.Module, cfg: OptimConfig, total_steps: int
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over `model`'s trainable parameters (fused kernel on CUDA when `cfg.fused`) and its LR schedule.

    Frozen parameters get no optimizer state.
    """
    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameter")
    fused = bool(cfg.fused) and all(p.device.type == "cuda" for p in params)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay,
                                  fused=fused or None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(lr_factor, cfg=cfg, total_steps=total_steps))
    return optimizer, scheduler


def clip_gradients(model: nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm to `max_norm` (when > 0); the norm before clipping.

    Works on FSDP2's sharded (DTensor) gradients: the norm is reduced over all shards.
    """
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
