"""Reward models and claim verifiers that see the images, and the named text-only stand-ins.

The paper's preference score (RL, paper §2.4) and RLAIF-V's claim verification both judge an answer
against the image: the answer is split into atomic claims and each is asked as a yes/no question on the
prompt's image(s) or video (`rlaif.JudgeVerifier`: p(yes) / (p(yes) + p(no))). Both are built here from
one spec string:

    "snapshot" the default: a frozen snapshot of the policy taken when the stage starts (RL: a deep copy
               in eval mode, `requires_grad_(False)`, never updated, stored in bf16 when the run computes
               in bf16; one extra model copy per GPU, counted in the memory plan). DPO judges every pair
               before its first update, so there the policy itself is the snapshot and costs nothing
    DIR        another local vision-language checkpoint as the judge, same questions: a folder written by
               `mmcorpus train` (`final/model`) or released MiniCPM-V 4.5 weights (its tokenizer inside);
               frozen like the snapshot, and counted in the memory plan the same way
    "live"     RL only, on request: the policy being trained judges its own answers with its current
               weights, a feedback loop the paper does not have (it names a separate reward model);
               warned in the log and the run manifest, and no extra memory
    "none"     no preference score (RL only)
    "overlap"  text-only stand-in, by name only: character-trigram overlap with the record's text
    "text:DIR" text-only stand-in, by name only: a local sequence-classification reward model

A stand-in never sees the image: choosing one (or "live") logs a warning and the run writes it into its manifest
(the first line of `metrics.jsonl`, key `warnings`; `run_warnings`), as do the opt-in RL tasks that reward
guessing.

`ClaimJudgeRM` turns a verifier into a preference model: an answer's score is the mean claim score, *[ours]*
(RLAIF-V counts rejected claims; a mean keeps short and long answers on one scale before the group
standardisation the RL stage applies), and 0 for an answer without a claim.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Callable

import torch

from corpus.errors import UserError
from model.checkpoint import CONFIG_NAME
from training_bridge.rl.prompts import GUESSING_KINDS, Prompt
from training_bridge.rl.rewards import OverlapPreferenceModel, PreferenceModel, SequenceClassifierRM
from training_bridge.rl.rlaif import ClaimVerifier, JudgeVerifier, OverlapVerifier, split_claims
from training_bridge.train.precision import bf16_compute
from training_bridge.train.train_config import LIVE, SNAPSHOT, ModelSpec

log = logging.getLogger(__name__)

NONE, OVERLAP, TEXT_RM, RETIRED = "none", "overlap", "text:", "policy"


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


def _frozen(model: torch.nn.Module, device: torch.device, precision: str) -> torch.nn.Module:
    """`model` as a judge: eval mode, no gradients, on `device`, in bf16 when the run computes in bf16."""
    model = model.eval().requires_grad_(False).to(device)
    return model.to(torch.bfloat16) if bf16_compute(device, precision) else model


class PolicyJudges:
    """The policy as a judge, built only when a spec asks for it: `snapshot()` or `live()`.

    `model` must be the policy before its first update (build the judge before training starts). `frozen_copy`:
    snapshot a frozen deep copy (RL, where the policy trains while it is judged); False where nothing trains
    while judging (DPO collects and judges every pair before its first step), so the policy is its own snapshot.
    """

    def __init__(self, model: torch.nn.Module, processor: Any, device: torch.device, precision: str = "auto",
                 frozen_copy: bool = True) -> None:
        self.model, self.processor, self.device, self.precision = model, processor, device, precision
        self.frozen_copy = frozen_copy

    def snapshot(self) -> JudgeVerifier:
        """A judge that never changes: a deep copy in eval mode without gradients (bf16 in bf16 runs)."""
        model = _frozen(copy.deepcopy(self.model), self.device, self.precision) if self.frozen_copy else self.model
        return JudgeVerifier(model, self.processor, self.device, self.precision)

    def live(self) -> JudgeVerifier:
        """The policy itself: its scores move with every update (see the module docstring's warning)."""
        return JudgeVerifier(self.model, self.processor, self.device, self.precision)


def stand_in_warning(role: str, spec: str) -> str | None:
    """The warning a text-only or "live" `spec` for `role` ("reward.rm", "rlaif.verifier") carries, else None."""
    if spec == OVERLAP or spec.startswith(TEXT_RM):
        return (f"{role}={spec!r} is a text-only stand-in: it never sees the image, so it rewards wording, not "
                f"faithfulness to the picture; use {SNAPSHOT!r} or a vision-language checkpoint folder for real runs")
    if spec == LIVE:
        return (f"{role}={LIVE!r}: the policy judges its own answers with the weights it is training, a feedback "
                f"loop the paper does not have; the default {SNAPSHOT!r} judges with a frozen copy taken at the start")
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
        raise UserError(f"judge {folder!r} is neither {SNAPSHOT!r}, {LIVE!r}, {NONE!r}, {OVERLAP!r}, "
                        f"'{TEXT_RM}DIR' nor a folder")
    spec = ModelSpec(init=folder) if (path / CONFIG_NAME).is_file() else ModelSpec(preset="full", official=folder)
    from training_bridge.train.model_build import build_model  # the model stack, only when a judge is loaded

    model, processor = build_model(spec)
    return JudgeVerifier(_frozen(model, device, precision), processor, device, precision)


def _refuse_retired(role: str, spec: str) -> None:
    if spec == RETIRED:
        raise UserError(f"{role}={RETIRED!r} is retired: say {SNAPSHOT!r} (a frozen copy of the policy taken when the "
                        f"stage starts, the default) or, RL only, {LIVE!r} (the policy judges itself as it trains)")


def load_verifier(spec: str, policy: PolicyJudges | None, device: torch.device,
                  precision: str = "auto") -> ClaimVerifier:
    """RLAIF-V's claim verifier from `spec` (module docstring); `policy`: the policy as a judge (for "snapshot")."""
    _refuse_retired("rlaif.verifier", spec)
    if spec == OVERLAP:
        return OverlapVerifier()
    if spec == SNAPSHOT:
        if policy is None:
            raise UserError(f"rlaif.verifier {SNAPSHOT!r} needs the policy model")
        return policy.snapshot()
    if spec in (NONE, LIVE) or spec.startswith(TEXT_RM):
        raise UserError(f"rlaif.verifier {spec!r}: claims need a judge on the image; use {SNAPSHOT!r}, a checkpoint "
                        f"folder or {OVERLAP!r}")
    return _judge_model(spec, device, precision)


def load_preference_model(spec: str, policy: PolicyJudges | None, device: torch.device,
                          precision: str = "auto") -> PreferenceModel | None:
    """The RL preference model from `spec` (module docstring); None for "none". Call it before the first update:
    "snapshot" copies `policy`'s weights as they are then."""
    _refuse_retired("reward.rm", spec)
    if spec == NONE:
        return None
    if spec == OVERLAP:
        return OverlapPreferenceModel()
    if spec.startswith(TEXT_RM):
        return SequenceClassifierRM(spec[len(TEXT_RM):], device)
    if spec in (SNAPSHOT, LIVE):
        if policy is None:
            raise UserError(f"reward.rm {spec!r} needs the policy model")
        return ClaimJudgeRM(policy.snapshot() if spec == SNAPSHOT else policy.live())
    return ClaimJudgeRM(_judge_model(spec, device, precision))
