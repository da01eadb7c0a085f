"""The calls whose transformers spelling differs across the supported range do what the project relies on, under
whichever version is installed (the suite runs under the newest; `test_lowest_transformers.py` reruns the model
and trainer tests under the lowest)."""
from __future__ import annotations

import torch
from train_corpus import one_thread  # noqa: F401  (fixture: one torch thread, as the trainer tests)
from transformers import Qwen3ForCausalLM

from model.config import tiny
from model.minicpmv import MiniCPMV
from model.transformers_compat import cache_keyword, enable_activation_checkpointing


def test_activation_checkpointing_recomputes_every_layer_in_backward():
    torch.manual_seed(0)
    model = MiniCPMV(tiny())
    for part in (model.llm, model.vpm):
        enable_activation_checkpointing(part)
    # inside what is recomputed (a pre-hook: the recompute stops as soon as it has rebuilt what backward needs)
    mlps = [layer.mlp for layer in (*model.llm.model.layers, *model.vpm.encoder.layers)]
    calls = {id(mlp): 0 for mlp in mlps}
    for mlp in mlps:
        mlp.register_forward_pre_hook(lambda m, args: calls.__setitem__(id(m), calls[id(m)] + 1))
    model.train()
    pixels = [torch.randn(3, 14, 14 * 16 * 16)]
    ids = torch.arange(80)[None] % 200
    ids[0, 10:74] = model.config.special_tokens["<unk>"]
    out = model(input_ids=ids, pixel_values=pixels, tgt_sizes=torch.tensor([[16, 16]]),
                image_bound=[torch.tensor([[10, 74]])], temporal_ids=[[-1]], labels=ids, use_cache=False)
    assert set(calls.values()) == {1}
    out.loss.backward()
    assert set(calls.values()) == {2}  # each layer ran again to rebuild what it did not keep


def test_cache_keyword_is_a_parameter_of_the_installed_forward():
    import inspect

    name = cache_keyword(Qwen3ForCausalLM)
    assert name in ("cache", "past_key_values") and name in inspect.signature(Qwen3ForCausalLM.forward).parameters
