"""The trainer's scale machinery on the tiny model: chunked log-probs, packed sequences, batched rollouts."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import Cache

from model.chunked_logprobs import chunked_token_logprobs
from model.config import tiny
from model.minicpmv import MiniCPMV
from model.processor import IGNORE_INDEX, MiniCPMVProcessor, collate
from training_bridge.data.packing import batch_samples, batch_tokens, pack_collate
from training_bridge.rl.batched_rollout import generate_groups
from training_bridge.train.record_inputs import sample_to_dict
from training_bridge.train.token_logprobs import token_logprobs

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_model() -> tuple[MiniCPMV, MiniCPMVProcessor]:
    torch.manual_seed(0)
    config = tiny()
    return MiniCPMV(config), MiniCPMVProcessor.from_config(config)


def _samples(processor: MiniCPMVProcessor):
    img = Image.new("RGB", (200, 150), (120, 30, 200))
    convs = [
        ([{"role": "user", "content": "<image>\nWhat is it?"}, {"role": "assistant", "content": "A purple box."}], [img]),
        ([{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi! How can I help?"}], []),
        ([{"role": "user", "content": "<image>\nDescribe it."}, {"role": "assistant", "content": "Nothing to see."}], [img]),
    ]
    return [processor(messages, images, []) for messages, images in convs]


def _full_logprobs(model: MiniCPMV, batch: dict) -> torch.Tensor:
    """The reference: full logits, log-softmax over every position, gathered at the labels."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   pixel_values=batch["pixel_values"], tgt_sizes=batch["tgt_sizes"], image_bound=batch["image_bound"],
                   temporal_ids=batch["temporal_ids"]).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    mask = targets != IGNORE_INDEX
    logp = torch.log_softmax(logits, -1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
    return logp * mask


def test_chunked_logprobs_equal_the_full_computation_values_and_gradients():
    torch.manual_seed(1)
    hidden = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    upstream = torch.randn(37, dtype=torch.float64)
    full = torch.log_softmax(hidden @ weight.T, -1).gather(-1, targets[:, None]).squeeze(-1)
    g_full = torch.autograd.grad((full * upstream).sum(), (hidden, weight))
    for chunk in (1, 8, 37, 100):
        values = chunked_token_logprobs(hidden, weight, targets, chunk_size=chunk)
        grads = torch.autograd.grad((values.double() * upstream).sum(), (hidden, weight))
        torch.testing.assert_close(values.double(), full, rtol=1e-6, atol=1e-6)  # fp32 log-softmax
        for g, ref in zip(grads, g_full):
            torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6)


def test_model_token_logprobs_equal_full_logits_values_and_gradients(tiny_model):
    model, processor = tiny_model
    batch = collate(_samples(processor), processor.tokenizer.pad_token_id)
    logp, mask = token_logprobs(model, batch, chunk_size=5)
    ref = _full_logprobs(model, batch)
    torch.testing.assert_close(logp, ref, rtol=1e-5, atol=1e-5)
    assert int(mask.sum()) == int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    params = [model.llm.lm_head.weight, model.llm.model.layers[0].mlp.up_proj.weight, model.resampler.query]
    grads = torch.autograd.grad(logp.sum(), params)
    refs = torch.autograd.grad(ref.sum(), params)
    for g, r in zip(grads, refs):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_packed_sequences_give_the_per_sample_losses_of_padded_ones(tiny_model):
    model, processor = tiny_model
    samples = _samples(processor)
    padded = collate(samples, processor.tokenizer.pad_token_id)
    packed = pack_collate([sample_to_dict(s) for s in samples], processor.tokenizer.pad_token_id)
    assert batch_samples(packed) == 3 and batch_tokens(packed) == batch_tokens(padded) == sum(len(s.input_ids) for s in samples)
    with torch.no_grad():
        logp_pad, _ = token_logprobs(model, padded)
        logp_pack, mask_pack = token_logprobs(model, packed)
    per_pad = logp_pad.sum(-1)
    ends = packed["sample_lengths"].cumsum(0).tolist()
    per_pack = [logp_pack[0, a : b - 1].sum() for a, b in zip([0] + ends[:-1], ends)]
    torch.testing.assert_close(torch.stack(per_pack), per_pad, rtol=1e-5, atol=1e-4)
    assert int(mask_pack.sum()) == int((padded["labels"][:, 1:] != IGNORE_INDEX).sum())  # no target crosses samples


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_batched_rollouts_equal_one_prompt_at_a_time(tiny_model, temperature):
    model, processor = tiny_model
    img = Image.new("RGB", (120, 90), (10, 200, 40))
    prompts = [processor([{"role": "user", "content": "<image>\nWhat is it?"}], [img], [], add_generation_prompt=True),
               processor([{"role": "user", "content": "A longer question without an image?"}], [], [],
                         add_generation_prompt=True, thinking=True)]
    caps, seeds = [6, 9], [11, 12]
    model.eval()
    batched = generate_groups(model, processor, prompts, 2, caps, temperature, seeds, CPU)
    alone = [generate_groups(model, processor, [p], 2, c, temperature, [s], CPU)[0]
             for p, c, s in zip(prompts, caps, seeds)]
    assert batched == alone
    assert all(len(ids) <= c for group, c in zip(batched, caps) for ids, _ in group)
    if temperature == 0.0:  # greedy: what the model's own `generate` gives
        batch = collate(prompts[:1], processor.tokenizer.pad_token_id)
        batch.pop("labels")
        eos = processor.tokenizer.token_id("<|im_end|>")
        hf = model.generate(**batch, max_new_tokens=caps[0], do_sample=False, eos_token_id=eos,
                            pad_token_id=processor.tokenizer.pad_token_id)[0].tolist()
        ids, done = batched[0][0]
        assert ids == (hf[: hf.index(eos) + 1] if eos in hf else hf)


def test_batched_decoding_grows_one_kv_cache(tiny_model):
    """The prompts are prefilled once into one KV cache; then every decode step feeds one new token per row and
    the cache grows by one (a cache the LLM ignores stays empty, and each step would attend to nothing but
    its own token)."""
    model, processor = tiny_model
    prompts = [processor([{"role": "user", "content": "Short?"}], [], [], add_generation_prompt=True),
               processor([{"role": "user", "content": "A longer question, padded on the left?"}], [], [],
                         add_generation_prompt=True)]
    calls: list[tuple[int, int]] = []  # (tokens fed per row, cached length after the call)

    def record(module, args, kwargs, output):
        caches = [v for v in kwargs.values() if isinstance(v, Cache)]
        assert len(caches) == 1, "the LLM must be called with one KV cache"
        fed = kwargs["input_ids"] if kwargs.get("input_ids") is not None else kwargs["inputs_embeds"]
        calls.append((fed.shape[1], caches[0].get_seq_length()))

    model.eval()
    handle = model.llm.register_forward_hook(record, with_kwargs=True)
    try:
        groups = generate_groups(model, processor, prompts, 3, 8, 1.0, [1, 2], CPU)
    finally:
        handle.remove()
    width = max(len(p.input_ids) for p in prompts)
    longest = max(len(ids) for group in groups for ids, _ in group)
    assert longest > 1 and calls[0] == (width, width)
    assert calls[1:] == [(1, width + k) for k in range(1, longest)]  # one step per token after the first
