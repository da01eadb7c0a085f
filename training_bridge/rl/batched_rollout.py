"""Batched rollouts: many prompts, `n` responses each, in one decode loop with a KV cache.

    groups = generate_groups(model, processor, prompts, n=8, max_new_tokens=[1024, 8192, ...],
                             temperature=1.0, seeds=[...], device=device, precision="auto")

Prompts are left-padded into one batch and embedded once (each prompt's images go through the vision
encoder and resampler once, then its embeddings are repeated for its `n` rows), prefilled together, and
decoded one token per step for all rows at once from the LLM's KV cache. Each prompt samples from its own
`torch.Generator` seeded with its seed, so a prompt's responses do not depend on which other prompts
share the batch: the same seeds give the same responses batched or one prompt at a time. Sampling is
plain ancestral sampling at `temperature` from the full distribution (on-policy for GRPO); temperature
0 is greedy. A response ends at its first end-of-turn token (terminated) or at its prompt's cap.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache

from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor, ProcessedSample, collate
from model.transformers_compat import cache_kwargs
from training_bridge.train.precision import autocast

Response = tuple[list[int], bool]  # ids through the first end-of-turn token, terminated


def left_padded(samples: list[ProcessedSample], pad_id: int) -> dict:
    """A model batch of generation prompts, left-padded (image bounds shifted with their rows)."""
    batch = collate(samples, pad_id)
    width = batch["input_ids"].shape[1]
    ids = torch.full_like(batch["input_ids"], pad_id)
    mask = torch.zeros_like(batch["attention_mask"])
    bounds = []
    for i, s in enumerate(samples):
        shift = width - len(s.input_ids)
        ids[i, shift:], mask[i, shift:] = s.input_ids, 1
        bounds.append(s.image_bound + shift)
    batch.update(input_ids=ids, attention_mask=mask, image_bound=bounds)
    batch.pop("labels")
    return batch


def _next_tokens(logits: torch.Tensor, temperature: float, generators: list[torch.Generator], n: int) -> torch.Tensor:
    """One token per row; rows `[i n, (i + 1) n)` draw from `generators[i]`."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.cat([torch.multinomial(probs[i * n : (i + 1) * n], 1, generator=g).squeeze(-1)
                      for i, g in enumerate(generators)])


@torch.no_grad()
def generate_groups(model: MiniCPMV, processor: MiniCPMVProcessor, prompts: list[ProcessedSample], n: int,
                    max_new_tokens: int | list[int], temperature: float, seeds: list[int], device: torch.device,
                    precision: str = "auto") -> list[list[Response]]:
    """`n` responses per prompt, batched as the module docstring says; `model` is the bare `MiniCPMV`."""
    if len(seeds) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    caps = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    tok = processor.tokenizer
    eos, pad = tok.token_id("<|im_end|>"), tok.pad_token_id
    batch = left_padded(prompts, pad)
    generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    cap = torch.tensor(caps, device=device).repeat_interleave(n)
    rows = len(prompts) * n
    with autocast(device, precision):
        embeds = model.embed(batch["input_ids"].to(device), [p.to(device) for p in batch["pixel_values"]],
                             batch["tgt_sizes"].to(device), [b.to(device) for b in batch["image_bound"]],
                             batch["temporal_ids"])
        mask = batch["attention_mask"].to(device).repeat_interleave(n, 0)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = cache_kwargs(model.llm, DynamicCache(config=model.llm.config))
        logits = model.llm(inputs_embeds=embeds.repeat_interleave(n, 0), attention_mask=mask, position_ids=positions,
                           use_cache=True, logits_to_keep=1, **cache).logits[:, -1]
        out = torch.full((rows, max(caps)), pad, dtype=torch.long, device=device)
        done = torch.zeros(rows, dtype=torch.bool, device=device)
        terminated = torch.zeros(rows, dtype=torch.bool, device=device)
        lengths = torch.zeros(rows, dtype=torch.long, device=device)
        for t in range(max(caps)):
            token = _next_tokens(logits, temperature, generators, n)
            live = ~done & (t < cap)
            out[:, t] = torch.where(live, token, pad)
            lengths += live.long()
            terminated |= live & (token == eos)
            done |= ~live | (token == eos)
            if bool(done.all()) or t + 1 == max(caps):
                break
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=mask.dtype, device=device)], dim=1)
            positions = positions[:, -1:] + 1
            logits = model.llm(input_ids=token[:, None], attention_mask=mask, position_ids=positions, use_cache=True,
                               **cache).logits[:, -1]
    ids, lens, ends = out.tolist(), lengths.tolist(), terminated.tolist()
    responses = [(ids[r][: lens[r]], ends[r]) for r in range(rows)]
    return [responses[i * n : (i + 1) * n] for i in range(len(prompts))]


class ActorRollout:
    """The default rollout engine: `generate_groups` with the actor itself (nothing to sync after updates)."""

    def __init__(self, model: MiniCPMV, processor: MiniCPMVProcessor, device: torch.device, precision: str) -> None:
        self.model, self.processor, self.device, self.precision = model, processor, device, precision

    def generate(self, prompts: list[ProcessedSample], n: int, caps: list[int], temperature: float,
                 seeds: list[int]) -> list[list[Response]]:
        return generate_groups(self.model, self.processor, prompts, n, caps, temperature, seeds, self.device,
                               self.precision)

    def sync(self, model: torch.nn.Module) -> None:
        """Nothing to do: the engine is the actor."""
