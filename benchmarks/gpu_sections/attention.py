"""Section `attention`: two LLM layers on one packed batch, dense `sdpa` against `sdpa_packed`: time, difference,
and attention FLOPs dispatched against those the MFU counts (`useful_attention_flops`: each sample's causal half)."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from benchmarks.check_sections import Sections
from benchmarks.gpu_sections.batches import batch_shape
from benchmarks.gpu_sections.context import Context, config_of


def useful_attention_flops(config, lengths: list[int], layers: int) -> float:
    """Forward attention FLOPs a packed batch needs (what the MFU counts): each sample's causal half."""
    q = config.llm.num_attention_heads * config.llm.head_dim
    return layers * 2 * q * sum(n * n for n in lengths)


def attention(s: Sections, ctx: Context) -> dict[str, Any]:
    from transformers import Qwen3Model

    from model.packed_attention import attention_flop_counter, sample_bounds, sdpa_flops

    lengths, _, source = batch_shape(s, ctx)
    layers = 2
    config = config_of(ctx, layers)
    dtype = torch.bfloat16 if ctx.cuda else torch.float32
    positions = torch.cat([torch.arange(n) for n in lengths])[None].to(ctx.device)
    x = torch.randn(1, sum(lengths), config.llm.hidden_size, device=ctx.device, dtype=dtype)
    figures: dict[str, Any] = {"tokens": sum(lengths), "samples": len(lengths), "shape": source, "layers": layers}
    outs = {}
    for impl in ("sdpa", "sdpa_packed"):
        torch.manual_seed(0)
        hf = dataclasses.replace(config.llm, attn_implementation=impl).to_hf()
        with torch.device(ctx.device):
            model = Qwen3Model(hf).to(dtype)
        extra = sample_bounds(positions) if impl == "sdpa_packed" else {}

        def step() -> torch.Tensor:
            inp = x.detach().requires_grad_()
            out = model(inputs_embeds=inp, position_ids=positions, use_cache=False, **extra).last_hidden_state
            out.float().square().mean().backward()
            return out.detach()

        outs[impl] = step()
        ctx.sync()
        t0 = time.perf_counter()
        for _ in range(3):
            step()
        ctx.sync()
        ms = (time.perf_counter() - t0) / 3 * 1e3
        with attention_flop_counter() as counter:
            step()
        figures[f"{impl}_ms"] = round(ms, 2)
        figures[f"{impl}_tflop"] = sdpa_flops(counter) / 1e12  # forward + backward, every layer
        s.record(impl, ms_forward_backward=round(ms, 2), sdpa_tflop=figures[f"{impl}_tflop"])
        del model
    useful = 3 * useful_attention_flops(config, lengths, layers) / 1e12  # forward + backward (2x)
    figures["useful_tflop"] = useful
    figures["speedup"] = round(figures["sdpa_ms"] / figures["sdpa_packed_ms"], 2)
    ref = outs["sdpa"].float()
    figures["max_rel_diff"] = ((outs["sdpa_packed"].float() - ref).abs().max() / ref.abs().max()).item()
    print(f"   attention FLOPs, {layers} layers, forward + backward: dense sdpa {figures['sdpa_tflop']:.3g} TFLOP, "
          f"sdpa_packed {figures['sdpa_packed_tflop']:.3g} (SDPA calls' full squares), counted in the MFU "
          f"{useful:.3g} (causal halves); sdpa_packed {figures['speedup']}x faster, max rel. difference "
          f"{figures['max_rel_diff']:.2e}")
    return figures
