"""Section `plan`: the memory plans at the bridge's batch shape (PT-1, all parameters) and the most LLM layers an
all-parameter run can hold on this device (`training_bridge/train/memory_plan.py`)."""
from __future__ import annotations

from typing import Any

import torch

from benchmarks.check_sections import GIB, Sections
from benchmarks.gpu_sections.batches import batch_shape
from benchmarks.gpu_sections.context import Context, config_of


def plan_input(ctx: Context, stage: str, layers: int | None, slices: int, checkpointing: bool):
    from training_bridge.train.memory_plan import PlanInput

    gpu_gib = torch.cuda.get_device_properties(ctx.device).total_memory / GIB if ctx.cuda else 0.0
    return PlanInput(config_of(ctx, layers), stage, 1, "none", True, ctx.scale.tokens, slices, checkpointing,
                     gpu_gib=gpu_gib, gpu_name=torch.cuda.get_device_name(ctx.device) if ctx.cuda else "CPU")


def plan(s: Sections, ctx: Context) -> dict[str, Any]:
    from training_bridge.train.memory_plan import plan_memory

    lengths, slices, source = batch_shape(s, ctx)
    full_layers = config_of(ctx).llm.num_hidden_layers
    pt1 = plan_memory(plan_input(ctx, "resampler", None, slices, False))
    print(f"-- PT-1 at {slices} slices per batch ({source} shape)\n{pt1.table()}")
    low, high = 1, full_layers  # the most layers that fit (at least one): the plan grows with the layers
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if plan_memory(plan_input(ctx, "all", mid, slices, True)).fits else (low, mid - 1)
    layers = low
    every = plan_memory(plan_input(ctx, "all", layers, slices, True))
    print(f"-- all parameters, {layers} of {full_layers} LLM layers (the most that fit)\n{every.table()}")
    figures = {"slices": slices, "shape": source, "layers": layers, "pt1_plan_gib": round(pt1.total / GIB, 2),
               "all_plan_gib": round(every.total / GIB, 2), "pt1_fits": pt1.fits}
    for name, p in (("pt1", pt1), ("all", every)):
        s.record(f"plan {name}", **{k: round(getattr(p, k) / GIB, 2) for k in (
            "parameters", "gradients", "optimizer", "weight_copies", "activations", "transient", "total")})
    return figures
