"""The transformers calls whose spelling changes inside the range the project supports (pyproject: `transformers>=5.17`).

* `enable_activation_checkpointing(module)`: `activation_checkpointing_enable` where it exists (5.2x),
  else `gradient_checkpointing_enable` (5.17, where the new name does not exist; deprecated later);
  non-reentrant checkpointing either way.
* `cache_kwargs(llm, cache)`: the keyword under which a causal LM's `forward` takes its KV cache: `cache`
  (5.2x, where `past_key_values` is a deprecated alias) or `past_key_values` (5.17, whose `**kwargs`
  swallows an unknown `cache=` without a word, so decoding would silently run without a cache). A forward
  that takes neither is refused.
"""
from __future__ import annotations

import inspect

from torch import nn

CACHE_KEYWORDS = ("cache", "past_key_values")  # newest spelling first


def enable_activation_checkpointing(module: nn.Module) -> None:
    """Recompute each decoder (or encoder) layer of a transformers model in the backward pass."""
    kwargs = {"use_reentrant": False}
    if hasattr(module, "activation_checkpointing_enable"):
        module.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def cache_keyword(llm: nn.Module) -> str:
    """The name of `llm.forward`'s KV-cache parameter; `TypeError` when it has none of `CACHE_KEYWORDS`."""
    params = inspect.signature(llm.forward).parameters
    for name in CACHE_KEYWORDS:
        if name in params:
            return name
    raise TypeError(f"{type(llm).__name__}.forward takes no KV cache under any of {CACHE_KEYWORDS}")


def cache_kwargs(llm: nn.Module, cache: object) -> dict[str, object]:
    """`{keyword: cache}` for `llm(..., **cache_kwargs(llm, cache), use_cache=True)`."""
    return {cache_keyword(llm): cache}

