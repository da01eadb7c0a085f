"""Token log-probabilities from hidden states and the LM head, a chunk of positions at a time.

    values = chunked_token_logprobs(hidden, lm_head.weight, targets, chunk_size=1024)   # (N,)

`hidden` is `(N, H)` (only the positions that carry a target), `targets` `(N,)`. The result equals
`log_softmax(hidden @ weight.T)[i, targets[i]]` computed in fp32, but no more than `chunk_size x vocab`
logits exist at once, forward or backward: each chunk runs under activation checkpointing, so autograd
keeps only the chunk's hidden states and recomputes its logits in the backward pass. At the published
vocabulary (151,748) and 8,192 positions the full logits would be 2.5 GB in bf16 plus a 5 GB fp32 copy;
a 1,024-position chunk holds 0.6 GB of fp32 logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

DEFAULT_CHUNK = 1024


def _chunk_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) for one chunk: logits in the autocast dtype (if any), log-softmax in fp32."""
    logits = F.linear(hidden, weight).float()
    return logits.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def chunked_token_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                           chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """`(N,)` fp32 log-probabilities of `targets` under `hidden @ weight.T`; see the module docstring."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    if hidden.shape[0] == 0:
        return hidden.new_zeros(0, dtype=torch.float32)
    needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    out = []
    for start in range(0, hidden.shape[0], chunk_size):
        h, t = hidden[start : start + chunk_size], targets[start : start + chunk_size]
        if needs_grad:
            out.append(checkpoint(_chunk_logprobs, h, weight, t, use_reentrant=False))
        else:
            out.append(_chunk_logprobs(h, weight, t))
    return torch.cat(out)
