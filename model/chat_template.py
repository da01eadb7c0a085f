"""Qwen3 chat template with MiniCPM-V 4.5's thinking modes and SFT loss spans (released ``tokenizer_config.json``; paper §2.4 for the two modes).

A conversation is rendered into :class:`Segment` s of text, each marked trained or not, so the processor can
tokenise them and build labels:

* every message is ``<|im_start|>{role}\\n{content}<|im_end|>\\n``; only assistant replies (and their
  ``<|im_end|>``) are trained;
* the *final* assistant turns (those after the last user message) keep their mode: a reply that begins with
  ``<think>…</think>`` is rendered in long mode (``<think>\\n`` is prompt; reasoning, ``</think>`` and the answer
  are trained); any other reply gets the empty think block ``<think>\\n\\n</think>\\n\\n``, excluded from the loss;
* earlier assistant turns lose their think text, as in Qwen3's template;
* a generation prompt ends with ``<|im_start|>assistant\\n`` plus ``<think>\\n`` (long mode) or the empty think
  block (short mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
EMPTY_THINK = f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
_THINK = re.compile(r"^\s*<think>(.*?)</think>(.*)$", re.DOTALL)
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Segment:
    """A piece of the rendered conversation; ``train`` marks the tokens that carry the loss."""

    text: str
    train: bool = False


def split_thinking(content: str) -> tuple[str | None, str]:
    """``(reasoning, answer)`` of an assistant reply; reasoning is None when the reply has no think block."""
    match = _THINK.match(content)
    if match is None:
        return None, content
    return match.group(1).strip("\n"), match.group(2).lstrip("\n")


def render(
    messages: list[dict[str, str]], add_generation_prompt: bool = False, thinking: bool = False
) -> list[Segment]:
    """Render ``[{"role", "content"}, ...]`` into segments (adjacent segments with the same flag are merged).

    Args:
        messages: system (optional, first), user and assistant messages; contents are final text (media
            placeholders already expanded).
        add_generation_prompt: end with an assistant header for generation.
        thinking: mode of the generation prompt: long (``<think>\\n``) or short (empty think block).
    """
    for i, message in enumerate(messages):
        if message["role"] not in ROLES or (message["role"] == "system" and i != 0):
            raise ValueError(f"message {i}: role {message['role']!r} is not allowed here")
    user_turns = [i for i, m in enumerate(messages) if m["role"] == "user"]
    last_user = user_turns[-1] if user_turns else -1

    segments: list[Segment] = []
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role != "assistant":
            segments.append(Segment(f"{IM_START}{role}\n{content}{IM_END}\n"))
            continue
        segments.append(Segment(f"{IM_START}assistant\n"))
        reasoning, answer = split_thinking(content)
        if i < last_user:
            segments.append(Segment(f"{answer}{IM_END}", train=True))
        elif reasoning is None:
            segments += [Segment(EMPTY_THINK), Segment(f"{answer}{IM_END}", train=True)]
        else:
            segments += [
                Segment(f"{THINK_OPEN}\n"),
                Segment(f"{reasoning}\n{THINK_CLOSE}\n\n{answer}{IM_END}", train=True),
            ]
        segments.append(Segment("\n"))
    if add_generation_prompt:
        segments.append(Segment(f"{IM_START}assistant\n" + (f"{THINK_OPEN}\n" if thinking else EMPTY_THINK)))
    return _merge(segments)


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for segment in segments:
        if merged and merged[-1].train == segment.train:
            merged[-1] = Segment(merged[-1].text + segment.text, segment.train)
        else:
            merged.append(segment)
    return merged
