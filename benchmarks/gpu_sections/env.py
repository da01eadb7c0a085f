"""Section `env`: Python, torch, transformers, CUDA, the device and its free memory, the optional modules found."""
from __future__ import annotations

import platform
from typing import Any

import torch

from benchmarks.check_sections import GIB, Sections
from benchmarks.gpu_sections.context import REPORTED_MODULES, Context, peak_flops


def env(s: Sections, ctx: Context) -> dict[str, Any]:
    import importlib.util

    import transformers

    figures: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                               "transformers": transformers.__version__, "cuda": torch.version.cuda,
                               "device": str(ctx.device), "attention": ctx.attention,
                               "modules": {m: importlib.util.find_spec(m) is not None for m in REPORTED_MODULES}}
    if ctx.cuda:
        free, total = torch.cuda.mem_get_info(ctx.device)
        figures.update(name=torch.cuda.get_device_name(ctx.device), free_gib=round(free / GIB, 2),
                       total_gib=round(total / GIB, 2), bf16_peak_tflops=(peak_flops(ctx) or 0) / 1e12)
    s.record("versions", **figures)
    return figures
