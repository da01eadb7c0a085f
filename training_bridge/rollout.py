"""Rollouts with the model's own `generate`, and batches that score continuations of prompts.

* `render_prompt(processor, prompt, mode)`: the generation prompt in short mode (ends with the empty think
  block) or long mode (ends with `<think>\\n`), as the chat template renders them (PAPER.md section 7).
* `sample_group(model, processor, sample, n, ...)`: `n` sampled responses to one prompt in one `generate`
  call (`num_return_sequences`: the image is encoded once, no padding between prompts); each response is
  cut after its first end-of-turn token.
* `continuation_batch(prompts, continuations, pad_id)`: right-padded batch of prompt + continuation with
  labels on the continuation only, for `model_io.token_logprobs` (policy updates, RLPR, DPO).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from model.minicpmv import MiniCPMV
from model.processor import IGNORE_INDEX, MiniCPMVProcessor, ProcessedSample, collate
from training_bridge.model_io import autocast, to_device
from training_bridge.rl_tasks import Prompt

MODES = ("short", "long")


@dataclass
class Rollout:
    """One sampled response: ids through the end-of-turn token when `terminated`, and its text without it."""

    prompt_index: int
    mode: str
    response_ids: list[int]
    text: str
    terminated: bool


def render_prompt(processor: MiniCPMVProcessor, prompt: Prompt, mode: str) -> ProcessedSample:
    """The generation prompt of `prompt` in `mode` ("short" | "long")."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return processor(prompt.messages, prompt.images, prompt.videos, add_generation_prompt=True, thinking=mode == "long")


@torch.no_grad()
def sample_group(model: MiniCPMV, processor: MiniCPMVProcessor, sample: ProcessedSample, n: int, max_new_tokens: int,
                 temperature: float, device: torch.device, precision: str) -> list[tuple[list[int], bool]]:
    """`n` responses to one prompt: `(ids through the first end-of-turn token, terminated)` each.

    Sampling is plain ancestral sampling at `temperature` from the full distribution (no top-k/top-p), so
    the rollouts are on-policy for the GRPO ratio.
    """
    eos = processor.tokenizer.token_id("<|im_end|>")
    batch = to_device(collate([sample], processor.tokenizer.pad_token_id), device)
    batch.pop("labels")
    with autocast(device, precision):
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                             top_k=None, top_p=None, num_return_sequences=n, eos_token_id=eos,
                             pad_token_id=processor.tokenizer.pad_token_id)
    results = []
    for row in out.tolist():
        if eos in row:
            results.append((row[: row.index(eos) + 1], True))
        else:
            results.append((row, False))
    return results


def make_rollouts(prompt_index: int, mode: str, samples: list[tuple[list[int], bool]],
                  processor: MiniCPMVProcessor) -> list[Rollout]:
    """`Rollout`s from `sample_group` output (text decoded without the end-of-turn token)."""
    return [Rollout(prompt_index, mode, ids, processor.tokenizer.decode(ids[:-1] if done else ids), done)
            for ids, done in samples]


def continuation_batch(prompts: list[ProcessedSample], continuations: list[list[int]], pad_id: int) -> dict[str, Any]:
    """Prompt + continuation per row, labels on the continuation tokens only (see the module docstring)."""
    samples = []
    for prompt, cont in zip(prompts, continuations):
        ids = torch.tensor(cont, dtype=torch.long)
        samples.append(replace(prompt, input_ids=torch.cat([prompt.input_ids, ids]),
                               labels=torch.cat([torch.full_like(prompt.input_ids, IGNORE_INDEX), ids])))
    return collate(samples, pad_id)
