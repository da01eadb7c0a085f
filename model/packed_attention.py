"""Attention over packed rows that computes only what the block-causal mask keeps: `sdpa_packed`.

A packed row (`training_bridge.data.packing`) holds several samples end to end, each attending only to its
own earlier tokens. transformers' `sdpa` runs the row as one dense `T x T` masked attention: without
FlashAttention installed, every masked block is computed and thrown away (at 8,192 tokens of ~730-token
samples, ~95% of the square). `sdpa_packed` is an attention implementation registered with transformers
(`LLMConfig.attn_implementation = "sdpa_packed"`): on a packed row it runs SDPA once per sample, causal and
without a mask (on CUDA, the FlashAttention kernel inside torch), so it computes each sample's causal
triangle and nothing across samples; everywhere else (padding masks, KV-cache decoding, unpacked rows) it
is transformers' `sdpa` itself. Results equal `sdpa` within floating-point tolerance, gradients included
(`tests/test_packed_attention.py`).

    import model.packed_attention                # registers it (`register()`, idempotent)
    with attention_flop_counter() as counter: ...  # then sdpa_flops(counter): what SDPA was asked to compute
    llm(inputs_embeds=x, position_ids=p, **sample_bounds(p))   # what `MiniCPMV.forward` does for a packed row

The samples of a row reach every attention layer as `cu_seq_lens_q` (FlashAttention's varlen name for the
cumulative sample lengths; transformers passes keyword arguments of the model call down to its attention
functions), found from the position ids as transformers finds packing: a new sample wherever a position is
not the previous one + 1.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

NAME = "sdpa_packed"
_ATEN = torch.ops.aten


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                             **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch counts its CUDA SDPA kernels itself; its CPU kernel (`sdpa` with or without a mask) by the same formulas here
_CPU_SDPA = {_ATEN._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
             _ATEN._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops}


def sample_bounds(position_ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """`{"cu_seq_lens_q": bounds}` for a packed row (batch size 1): the int32 cumulative sample lengths, from 0
    to the row's length, on the CPU (the per-sample loop slices by them without a device sync per layer)."""
    if position_ids.dim() != 2 or position_ids.shape[0] != 1:
        raise ValueError(f"a packed row has batch size 1; position_ids has shape {tuple(position_ids.shape)}")
    pos = position_ids[0].cpu()
    starts = torch.nonzero(pos[1:] != pos[:-1] + 1).flatten() + 1
    return {"cu_seq_lens_q": torch.cat([torch.zeros(1, dtype=torch.long), starts, torch.tensor([len(pos)])]).int()}


def sdpa_packed_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention-function contract (`(B, heads, T, D)` in, `(B, T, heads, D)` out): one causal SDPA
    per sample on a packed row (`cu_seq_lens_q` given and no KV cache: query and key of one length), `sdpa`
    with the model's mask otherwise."""
    bounds = kwargs.pop("cu_seq_lens_q", None)
    if bounds is None or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    bounds = bounds.tolist()
    if query.shape[0] != 1 or bounds[0] != 0 or bounds[-1] != query.shape[2]:
        raise ValueError(f"cu_seq_lens_q {bounds[0]}..{bounds[-1]} does not cover a query of shape {tuple(query.shape)}")
    kwargs.pop("is_causal", None)
    pieces = [sdpa_attention_forward(module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], None, dropout,
                                     scaling, is_causal=True, **kwargs)[0] for a, b in zip(bounds[:-1], bounds[1:])]
    return torch.cat(pieces, dim=1), None


def register() -> None:
    """Make `sdpa_packed` a transformers attention implementation (its masks for the non-packed cases are
    `sdpa`'s)."""
    AttentionInterface.register(NAME, sdpa_packed_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


def attention_flop_counter() -> FlopCounterMode:
    """torch's FLOP counter, the CPU SDPA kernel included: `with counter: ...`, then `sdpa_flops(counter)`."""
    return FlopCounterMode(display=False, custom_mapping=dict(_CPU_SDPA))


def sdpa_flops(counter: FlopCounterMode) -> int:
    """FLOPs of the SDPA calls (forward and backward) a counter saw: what the kernels were asked to compute,
    each call's full query x key rectangle (torch's convention: a causal kernel skips about half of it)."""
    return sum(n for op, n in counter.get_flop_counts()["Global"].items() if "scaled_dot_product" in str(op))


register()
