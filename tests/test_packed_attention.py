"""`sdpa_packed` against transformers' dense `sdpa` on the tiny model: the same log-probs and gradients on packed
rows, SDPA asked to compute only each sample's square (torch's FLOP counter), and the same rollouts (padding
masks and KV-cache decoding go through `sdpa` itself)."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from train_corpus import one_thread  # noqa: F401  (fixture: one torch thread, as the trainer tests)

from model.minicpmv import MiniCPMV
from model.packed_attention import attention_flop_counter, sample_bounds, sdpa_flops
from model.processor import MiniCPMVProcessor
from training_bridge.data.packing import pack_collate
from training_bridge.rl.batched_rollout import generate_groups
from training_bridge.train.model_build import build_model
from training_bridge.train.record_inputs import sample_to_dict
from training_bridge.train.token_logprobs import token_logprobs
from training_bridge.train.train_config import ModelSpec

CPU = torch.device("cpu")


def _model(implementation: str) -> MiniCPMV:
    """The tiny model, seed 0, with the LLM attention chosen by the training config's knob (`model.attention`)."""
    model, _ = build_model(ModelSpec(preset="tiny", attention=implementation), seed=0)
    assert model.config.llm.attn_implementation == model.llm.config._attn_implementation == implementation
    return model


def _packed(processor: MiniCPMVProcessor, images: bool) -> dict:
    img = Image.new("RGB", (300, 200), (30, 160, 90))
    convs = [("What is it?", "A green card with nothing on it, seen from above."),
             ("Hi", "Hello!"),
             ("Describe the picture in a few words, please.", "Green."),
             ("Count to five.", "One, two, three, four, five.")]
    samples = [processor([{"role": "user", "content": ("<image>\n" if images and i % 2 == 0 else "") + q},
                          {"role": "assistant", "content": a}], [img] if images and i % 2 == 0 else [], [])
               for i, (q, a) in enumerate(convs)]
    return pack_collate([sample_to_dict(s) for s in samples], 0)


def _step(model: MiniCPMV, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    logp, _ = token_logprobs(model, batch)
    (-logp.sum()).backward()
    return logp.detach(), {name: p.grad for name, p in model.named_parameters() if p.grad is not None}


def test_sample_bounds_follow_position_resets():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3]])
    assert sample_bounds(positions)["cu_seq_lens_q"].tolist() == [0, 3, 5, 9]
    with pytest.raises(ValueError, match="batch size 1"):
        sample_bounds(positions.expand(2, -1))


def test_packed_attention_equals_dense_sdpa_with_gradients():
    dense, packed = _model("sdpa"), _model("sdpa_packed")
    batch = _packed(MiniCPMVProcessor.from_config(dense.config), images=True)
    assert len(batch["sample_lengths"]) == 4
    want, want_grads = _step(dense, batch)
    got, got_grads = _step(packed, batch)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert got_grads.keys() == want_grads.keys()
    for name, grad in want_grads.items():  # per tensor, against its own scale (some are ~0: a key bias's, by symmetry)
        assert (got_grads[name] - grad).abs().max() <= 1e-4 * grad.abs().max() + 1e-7, name


def test_packed_attention_computes_each_samples_square_only():
    dense, packed = _model("sdpa"), _model("sdpa_packed")
    batch = _packed(MiniCPMVProcessor.from_config(dense.config), images=False)  # text only: LLM attention alone
    flops = {}
    for name, model in (("dense", dense), ("packed", packed)):
        with attention_flop_counter() as counter:
            _step(model, batch)
        flops[name] = sdpa_flops(counter)
    lengths = batch["sample_lengths"].tolist()
    assert flops["dense"] > 0
    assert flops["packed"] * sum(lengths) ** 2 == flops["dense"] * sum(n * n for n in lengths)


def test_rollouts_with_packed_attention_equal_dense_ones():
    dense, packed = _model("sdpa"), _model("sdpa_packed")
    processor = MiniCPMVProcessor.from_config(dense.config)
    img = Image.new("RGB", (120, 90), (10, 200, 40))
    prompts = [processor([{"role": "user", "content": "<image>\nWhat is it?"}], [img], [], add_generation_prompt=True),
               processor([{"role": "user", "content": "A longer question without an image?"}], [], [],
                         add_generation_prompt=True)]
    runs = [generate_groups(m.eval(), processor, prompts, 2, 6, 0.0, [1, 2], CPU) for m in (dense, packed)]
    assert runs[0] == runs[1]
