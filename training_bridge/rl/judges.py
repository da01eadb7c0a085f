"""Reward models and claim verifiers that see the images, and the named text-only stand-ins.

The paper's preference score (RL, paper §2.4) and RLAIF-V's claim verification both judge an answer
against the image. Both are built here from one spec string:

    "policy"   the model being trained judges (RLAIF-V's self-feedback): the answer is split into atomic
               claims and each is asked as a yes/no question on the prompt's image(s) or video
               (`rlaif.JudgeVerifier`: p(yes) / (p(yes) + p(no))); the default
    DIR        another local vision-language checkpoint as the judge, same questions: a folder written by
               `mmcorpus train` (`final/model`) or released MiniCPM-V 4.5 weights (its tokenizer inside)
    "none"     no preference score (RL only)
    "overlap"  text-only stand-in, by name only: character-trigram overlap with the record's text
    "text:DIR" text-only stand-in, by name only: a local sequence-classification reward model

A stand-in never sees the image: choosing one logs a warning and the run writes it into its manifest
(the first line of `metrics.jsonl`, key `warnings`; `run_warnings`), as do the opt-in RL tasks that reward
guessing.

`ClaimJudgeRM` turns a verifier into a preference model: an answer's score is the mean claim score, *[ours]*
(RLAIF-V counts rejected claims; a mean keeps short and long answers on one scale before the group
standardisation the RL stage applies), and 0 for an answer without a claim.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import torch

from corpus.errors import UserError
from model.checkpoint import CONFIG_NAME
from training_bridge.rl.prompts import GUESSING_KINDS, Prompt
from training_bridge.rl.rewards import OverlapPreferenceModel, PreferenceModel, SequenceClassifierRM
from training_bridge.rl.rlaif import ClaimVerifier, JudgeVerifier, OverlapVerifier, split_claims
from training_bridge.train.train_config import ModelSpec

log = logging.getLogger(__name__)

POLICY, NONE, OVERLAP, TEXT_RM = "policy", "none", "overlap", "text:"


class ClaimJudgeRM:
    """Preference model from a claim verifier: mean verified score of the answer's claims (0 without claims)."""

    def __init__(self, verifier: ClaimVerifier, splitter: Callable[[str], list[str]] = split_claims) -> None:
        self.verifier, self.splitter = verifier, splitter

    def score(self, prompt: Prompt, answers: list[str]) -> list[float]:
        scores = []
        for answer in answers:
            claims = self.splitter(answer)
            values = self.verifier.score(prompt, claims) if claims else []
            scores.append(sum(values) / len(values) if values else 0.0)
        return scores


def stand_in_warning(role: str, spec: str) -> str | None:
    """The warning a text-only `spec` for `role` ("reward.rm", "rlaif.verifier") must carry, else None."""
    if spec == OVERLAP or spec.startswith(TEXT_RM):
        return (f"{role}={spec!r} is a text-only stand-in: it never sees the image, so it rewards wording, not "
                f"faithfulness to the picture; use {POLICY!r} or a vision-language checkpoint folder for real runs")
    return None


def run_warnings(cfg: Any) -> list[str]:
    """Warnings a training config earns (text-only judges, tasks that reward guessing), each also logged;
    the trainers write them into the run's manifest."""
    warnings = []
    if hasattr(cfg, "reward"):
        warnings.append(stand_in_warning("reward.rm", cfg.reward.rm))
    if hasattr(cfg, "rlaif"):
        warnings.append(stand_in_warning("rlaif.verifier", cfg.rlaif.verifier))
    guessing = sorted(set(getattr(getattr(cfg, "tasks", None), "kinds", [])) & set(GUESSING_KINDS))
    if guessing:
        warnings.append(f"tasks.kinds {guessing} reward guessing (page numbers are rarely printed, light corruption "
                        "is often invisible): the defaults are region_text and caption_qa")
    warnings = [w for w in warnings if w]
    for w in warnings:
        log.warning("%s", w)
    return warnings


def _judge_model(folder: str, device: torch.device, precision: str) -> JudgeVerifier:
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"judge {folder!r} is neither {POLICY!r}, {NONE!r}, {OVERLAP!r}, '{TEXT_RM}DIR' nor a folder")
    spec = ModelSpec(init=folder) if (path / CONFIG_NAME).is_file() else ModelSpec(preset="full", official=folder)
    from training_bridge.train.model_io import build_model  # the model stack, only when a judge is loaded

    model, processor = build_model(spec)
    return JudgeVerifier(model.to(device), processor, device, precision)


def load_verifier(spec: str, policy: JudgeVerifier | None, device: torch.device, precision: str = "auto") -> ClaimVerifier:
    """A claim verifier from `spec` (module docstring); `policy` is the trained model wrapped as a judge."""
    if spec == OVERLAP:
        return OverlapVerifier()
    if spec == POLICY:
        if policy is None:
            raise UserError("verifier 'policy' needs the policy model")
        return policy
    if spec == NONE or spec.startswith(TEXT_RM):
        raise UserError(f"rlaif.verifier {spec!r}: claims need a judge; use {POLICY!r}, a checkpoint folder or {OVERLAP!r}")
    return _judge_model(spec, device, precision)


def load_preference_model(spec: str, policy: JudgeVerifier | None, device: torch.device,
                          precision: str = "auto") -> PreferenceModel | None:
    """The RL preference model from `spec` (module docstring); None for "none"."""
    if spec == NONE:
        return None
    if spec == OVERLAP:
        return OverlapPreferenceModel()
    if spec.startswith(TEXT_RM):
        return SequenceClassifierRM(spec[len(TEXT_RM):], device)
    if spec == POLICY:
        if policy is None:
            raise UserError("reward.rm 'policy' needs the policy model")
        return ClaimJudgeRM(policy)
    return ClaimJudgeRM(_judge_model(spec, device, precision))
