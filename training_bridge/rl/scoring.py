"""Reward assembly of a GRPO step: each group's reward terms, the RLPR std filter and the advantages.

For each prompt's group of rollouts (`rewards.py` holds the terms themselves):
1. Accuracy: rule-based for short references; for free-form ones RLPR in long mode (the policy's probability
   of the reference after the generated reasoning, debiased by the probability without it) and
   similarity in short mode. Format, repetition penalty, and in long mode the preference score of the final
   answer (standardised within the group), weighted (`rewards.combine`).
2. Free-form groups scored by RLPR are dropped when their RLPR reward std falls below the running threshold;
   groups without variance carry no signal and are dropped too. The decisions and the threshold are agreed
   by every rank from the stds of all ranks' groups (`std_filter.py`).
3. Advantage = (R - group mean) / group std for the groups kept, zero for the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from model.processor import MiniCPMVProcessor, ProcessedSample
from training_bridge.rl.prompts import FREE_FORM, Prompt
from training_bridge.rl.rewards import (
    PreferenceModel,
    RewardParts,
    combine,
    parse_response,
    rlpr_score,
    similarity,
    standardize,
    verify_short,
)
from training_bridge.rl.rollout import Rollout, continuation_batch, render_prompt
from training_bridge.rl.std_filter import GroupSpread, StdFilter, agreed_keeps
from training_bridge.train.batch_device import to_device
from training_bridge.train.distributed import DistEnv
from training_bridge.train.precision import autocast
from training_bridge.train.token_logprobs import token_logprobs
from training_bridge.train.train_config import RLConfig


def group_advantages(rewards: list[float]) -> list[float]:
    """(R - mean) / std over one prompt's group (zeros when it does not vary)."""
    return standardize(rewards)


@dataclass
class ScoredStep:
    """A step's reward terms and advantages, one per rollout of this rank, and the keep decision of every
    group of every rank (row r: rank r's groups; the same table on every rank)."""

    parts: list[RewardParts]
    advantages: list[float]
    keeps: list[list[bool]]


class GroupScorer:
    """Scores a step's groups with the policy `model` (RLPR) and the preference model `rm`."""

    def __init__(self, model: torch.nn.Module, processor: MiniCPMVProcessor, cfg: RLConfig, env: DistEnv,
                 rm: PreferenceModel | None) -> None:
        self.model, self.processor, self.cfg, self.env, self.rm = model, processor, cfg, env, rm
        self.std_filter = StdFilter(cfg.reward.std_filter_momentum)
        self.pad_id = processor.tokenizer.pad_token_id
        self.think_close = processor.tokenizer.token_id("</think>")

    def score_step(self, prompts: list[Prompt], picks: list[tuple[int, str]], rollouts: list[Rollout],
                   samples: dict[int, Any]) -> ScoredStep:
        """Reward terms and advantages of every rollout (`group_size` per pick); the keep decisions agreed by all
        ranks (collective: every rank calls it once per step), which also update the std filter."""
        size = self.cfg.grpo.group_size
        groups = [self.group_rewards(prompts[index], rollouts[k * size : (k + 1) * size], samples[k])
                  for k, (index, _) in enumerate(picks)]
        keeps = agreed_keeps([GroupSpread.of(terms, rlpr) for terms, rlpr in groups],
                             self.std_filter if self.cfg.reward.std_filter else None, self.env)
        parts: list[RewardParts] = []
        advantages: list[float] = []
        for (terms, _), keep in zip(groups, keeps[self.env.rank]):
            parts += terms
            advantages += group_advantages([t.total for t in terms]) if keep else [0.0] * len(terms)
        return ScoredStep(parts, advantages, keeps)

    def group_rewards(self, prompt: Prompt, rollouts: list[Rollout], prompt_sample: ProcessedSample
                      ) -> tuple[list[RewardParts], bool]:
        """Reward terms of one group, and whether it is free-form scored by RLPR (std-filtered)."""
        rc = self.cfg.reward
        mode = rollouts[0].mode
        parsed = [parse_response(r.text, mode) for r in rollouts]
        rlpr = False
        done = [r.terminated for r in rollouts]
        if prompt.answer_type != FREE_FORM:
            accuracy = [verify_short(p.answer, prompt.reference) if p.well_formed and d else 0.0
                        for p, d in zip(parsed, done)]
        elif mode == "long":
            accuracy, rlpr = self.rlpr(prompt, prompt_sample, rollouts, parsed), True
        elif rc.short_free_form == "similarity":
            accuracy = [similarity(p.answer, prompt.reference) if p.well_formed and d else 0.0
                        for p, d in zip(parsed, done)]
        else:
            accuracy = [0.0] * len(rollouts)
        rm_scores = None
        if mode == "long" and self.rm is not None:
            rm_scores = self.rm.score(prompt, [p.answer for p in parsed])
        parts = combine(accuracy, parsed, done, [r.response_ids for r in rollouts],
                        rm_scores, rc.format_weight, rc.repetition_weight, rc.rm_weight, rc.repetition_ngram)
        return parts, rlpr

    @torch.no_grad()
    def rlpr(self, prompt: Prompt, prompt_sample: ProcessedSample, rollouts: list[Rollout], parsed) -> list[float]:
        """RLPR accuracy: reference-token probability after each reasoning, debiased by the no-reasoning one.

        With reasoning: long prompt + generated reasoning through `</think>` + "\\n\\n" + reference + end of turn
        (the generated answer replaced by the reference). Without: the short prompt (empty think block) +
        reference + end of turn. Truncated or ill-formed responses score 0.
        """
        tok = self.processor.tokenizer
        ref, eos = tok.encode(prompt.reference), tok.token_id("<|im_end|>")
        without = self.reference_probs([render_prompt(self.processor, prompt, "short")], [ref + [eos]], len(ref))[0]
        rows = [i for i, (r, p) in enumerate(zip(rollouts, parsed)) if r.terminated and p.well_formed]
        conts = [rollouts[i].response_ids[: rollouts[i].response_ids.index(self.think_close) + 1]
                 + tok.encode("\n\n") + ref + [eos] for i in rows]
        scores = [0.0] * len(rollouts)
        for i, p_with in zip(rows, self.reference_probs([prompt_sample] * len(rows), conts, len(ref))):
            scores[i] = rlpr_score(p_with, without)
        return scores

    def reference_probs(self, prompts: list[ProcessedSample], continuations: list[list[int]], n_ref: int
                        ) -> list[torch.Tensor]:
        """Probabilities of the `n_ref` reference tokens just before each continuation's end-of-turn token."""
        out = []
        mb = self.cfg.grpo.micro_batch_size
        for i in range(0, len(prompts), mb):
            batch = to_device(continuation_batch(prompts[i : i + mb], continuations[i : i + mb], self.pad_id),
                              self.env.device)
            with autocast(self.env.device, self.cfg.run.precision):
                logp, mask = token_logprobs(self.model, batch)
            for row, m in zip(logp, mask):
                values = row[m]
                out.append(values[-1 - n_ref : -1].exp())
        return out
