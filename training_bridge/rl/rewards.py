"""Rewards of the hybrid RL stage (paper §2.4): R = R_acc + R_format + R_rep + w · z(R_rm).

Pure functions of texts and ids, except the preference models (which may run a network) and the RLPR
score (which takes the policy's token probabilities, computed by the caller).

* Responses: in long mode the generated text is `reasoning </think> answer` (the prompt ended with
  `<think>\\n`); in short mode it is the answer (the prompt ended with the empty think block).
* R_acc needs a final answer: truncated or ill-formed responses get 0.
* R_acc, short answers: `verify_short`: the `\\boxed{}` content if any, else the answer; numbers compare
  as numbers (the first number of the answer), choice letters as letters, anything else as normalised
  text (case, spaces, surrounding punctuation). 1 or 0.
* R_acc, free-form answers, long mode: RLPR. The policy's mean per-token probability of the reference
  written after the generated reasoning, minus the same without reasoning, clipped to [0, 1]
  (`rlpr_score`). Groups whose RLPR reward std falls below a running threshold are dropped
  (`std_filter.py`, agreed by every rank). Short mode has no reasoning to debias against: *[ours]* it uses
  `similarity` (1 - normalised edit distance) or nothing, per config.
* R_format: 1 when the response ended with the end-of-turn token and has the mode's shape (long: one
  `</think>`, non-empty reasoning and answer; short: no think tags, non-empty answer), else 0; weighted.
* R_rep: minus the share of repeated token n-grams (0 for none, towards -1 for a loop); weighted.
* R_rm: a preference model's score of the final answer, long mode only, standardised over the prompt's
  group and weighted (paper: 0.5). Pluggable: anything with `PreferenceModel.score(prompt, answers)`;
  the default judges claims on the image with a frozen snapshot of the policy (`judges.py`); the text-only
  models here are stand-ins.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from training_bridge.rl.prompts import Prompt

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_CHOICE = re.compile(r"^\(?([A-Za-z])[\).:]?$")
_EPS = 1e-6


@dataclass(frozen=True)
class Parsed:
    """A response split by mode: `reasoning` (None in short mode), `answer`, and whether the shape is right."""

    reasoning: str | None
    answer: str
    well_formed: bool


def parse_response(text: str, mode: str) -> Parsed:
    """Split a generated response (`mode` "short" or "long"); see the module docstring."""
    if mode == "long":
        if text.count(THINK_CLOSE) != 1 or THINK_OPEN in text:
            return Parsed(None, "", False)
        reasoning, answer = text.split(THINK_CLOSE)
        reasoning, answer = reasoning.strip(), answer.strip()
        return Parsed(reasoning, answer, bool(reasoning) and bool(answer))
    if THINK_OPEN in text or THINK_CLOSE in text:
        return Parsed(None, "", False)
    answer = text.strip()
    return Parsed(None, answer, bool(answer))


def normalize(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation."""
    return " ".join(text.lower().split()).strip(" .,:;!?\"'`()[]")


def _number(text: str) -> float | None:
    match = _NUMBER.search(text)
    return float(match.group(0).replace(",", ".")) if match else None


def verify_short(answer: str, reference: str) -> float:
    """1.0 when a short answer matches the reference under the rules of the module docstring, else 0.0."""
    boxed = _BOXED.findall(answer)
    candidate = boxed[-1] if boxed else answer
    ref = normalize(reference)
    if _NUMBER.fullmatch(ref):
        value = _number(candidate)
        return float(value is not None and math.isclose(value, float(ref.replace(",", ".")), rel_tol=1e-9, abs_tol=1e-9))
    choice = _CHOICE.match(ref)
    if choice:
        got = _CHOICE.match(normalize(candidate))
        return float(got is not None and got.group(1).lower() == choice.group(1).lower())
    return float(normalize(candidate) == ref)


def similarity(answer: str, reference: str) -> float:
    """1 - Levenshtein distance / longer length, on normalised text (1.0 for two empty strings)."""
    a, b = normalize(answer), normalize(reference)
    if not a and not b:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1.0 - prev[-1] / max(len(a), len(b))


def format_reward(parsed: Parsed, terminated: bool) -> float:
    """1.0 for a terminated, well-formed response, else 0.0."""
    return float(terminated and parsed.well_formed)


def repetition_penalty(ids: list[int], n: int) -> float:
    """Minus the share of token n-grams that repeat an earlier one (0.0 when fewer than two n-grams)."""
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    if len(grams) < 2:
        return 0.0
    return -(1.0 - len(set(grams)) / len(grams))


def rlpr_score(p_with: torch.Tensor, p_without: torch.Tensor) -> float:
    """RLPR: mean reference-token probability after the reasoning, minus without it, clipped to [0, 1]."""
    return float((p_with.float().mean() - p_without.float().mean()).clamp(0.0, 1.0))


def standardize(values: list[float]) -> list[float]:
    """(v - mean) / std over one group; zeros when the group does not vary."""
    if len(values) < 2:
        return [0.0] * len(values)
    t = torch.tensor(values, dtype=torch.float64)
    std = float(t.std())
    return [0.0] * len(values) if std < _EPS else ((t - t.mean()) / std).tolist()


class PreferenceModel(Protocol):
    """Scores final answers to one prompt (its question, image(s) or video, reference); higher is better."""

    def score(self, prompt: "Prompt", answers: list[str]) -> list[float]: ...


class OverlapPreferenceModel:
    """Text-only stand-in RM (by name only): F1 of character trigrams between answer and reference."""

    def score(self, prompt: "Prompt", answers: list[str]) -> list[float]:
        return [_trigram_f1(a, prompt.reference) for a in answers]


def _trigram_f1(a: str, b: str) -> float:
    ga, gb = _trigrams(normalize(a)), _trigrams(normalize(b))
    if not ga or not gb:
        return 0.0
    common = sum(min(ga.count(g), gb.count(g)) for g in set(ga))
    return 2 * common / (len(ga) + len(gb))


def _trigrams(s: str) -> list[str]:
    return [s[i : i + 3] for i in range(len(s) - 2)]


class SequenceClassifierRM:
    """Text-only stand-in RM (by name only): a local sequence-classification model, first logit of
    "question\\n\\nanswer"; it never sees the image."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu", batch_size: int = 8) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).to(device).eval()
        self.device, self.batch_size = torch.device(device), batch_size

    @torch.no_grad()
    def score(self, prompt: "Prompt", answers: list[str]) -> list[float]:
        texts = [f"{prompt.question}\n\n{a}" for a in answers]
        scores: list[float] = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(texts[i : i + self.batch_size], return_tensors="pt", padding=True, truncation=True)
            scores += self.model(**enc.to(self.device)).logits[:, 0].float().tolist()
        return scores


@dataclass(frozen=True)
class RewardParts:
    """One rollout's reward terms (already weighted) and their sum."""

    accuracy: float
    format: float
    repetition: float
    rm: float

    @property
    def total(self) -> float:
        return self.accuracy + self.format + self.repetition + self.rm


def combine(accuracy: list[float], parsed: list[Parsed], terminated: list[bool], ids: list[list[int]],
            rm_scores: list[float] | None, format_weight: float, repetition_weight: float, rm_weight: float,
            ngram: int) -> list[RewardParts]:
    """The terms of one group: accuracy as given, format, repetition, and standardised RM scores (if any)."""
    rm = [rm_weight * z for z in standardize(rm_scores)] if rm_scores is not None else [0.0] * len(parsed)
    return [RewardParts(a, format_weight * format_reward(p, t), repetition_weight * repetition_penalty(i, ngram), r)
            for a, p, t, i, r in zip(accuracy, parsed, terminated, ids, rm)]
