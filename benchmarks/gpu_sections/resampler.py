"""Section `resampler`: the resampler on the device (fp32 and bf16) against CPU float64."""
from __future__ import annotations

from typing import Any

import torch

from benchmarks.check_sections import Sections
from benchmarks.gpu_sections.context import Context, config_of


def resampler(s: Sections, ctx: Context) -> dict[str, Any]:
    from model.resampler import Resampler

    c = config_of(ctx)
    side = c.slicing.scale_resolution // c.slicing.patch_size
    torch.manual_seed(0)
    ref = Resampler(c.query_num, c.llm.hidden_size, c.resampler_heads, c.vision.hidden_size).double()
    x = torch.randn(4, side * side, c.vision.hidden_size, dtype=torch.float64)
    sizes, ids = torch.tensor([[side, side]] * 3 + [[side // 2, side * 2]]), [[-1]] * 4
    figures = {}
    with torch.no_grad():
        want = ref(x, sizes, ids)
        dev = Resampler(c.query_num, c.llm.hidden_size, c.resampler_heads, c.vision.hidden_size).to(ctx.device)
        dev.load_state_dict({k: t.float() for k, t in ref.state_dict().items()})
        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            got = dev.to(dtype)(x.to(ctx.device, dtype), sizes.to(ctx.device), ids).double().cpu()
            figures[f"{label}_rel_err"] = (got - want).abs().max().item() / want.abs().max().item()
    s.record("device vs CPU float64", **figures)
    return figures
