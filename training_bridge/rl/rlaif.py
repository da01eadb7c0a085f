"""RLAIF-V preference data (paper §2.4): sample, split into claims, verify, pair.

    pairs = collect_pairs(model, processor, prompts, cfg, verifier, env)

1. Sample `responses_per_prompt` responses per prompt with the policy's own `generate` (same decoding for
   all, so responses differ by content, not by style: RLAIF-V's deconfounded sampling).
2. `split_claims`: the final answer split into atomic claims: sentences and lines, long sentences further
   at "; " and ", and " (a rule-based splitter *[ours]*; RLAIF-V uses an LLM: plug one in as `splitter`).
3. A `ClaimVerifier` scores each claim in [0, 1]. Built in: `OverlapVerifier` (share of the claim's
   character trigrams found in the prompt's context text, i.e. the record's own answer; a stand-in) and
   `JudgeVerifier` (any MiniCPM-V checkpoint asked "is this statement correct? yes/no", score =
   p(yes) / (p(yes) + p(no)), RLAIF-V's divide-and-conquer judging).
4. Response score = minus the number of rejected claims (score < `reject_below`), as RLAIF-V. Pairs of one
   prompt: every (better, worse) with a score gap >= `min_gap`, largest gap first, then the closest
   lengths (length control *[ours]*), each response in at most one pair, at most `pairs_per_prompt`.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import Callable, Protocol

import torch
from tqdm import tqdm

from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor
from training_bridge.rl.prompts import Prompt
from training_bridge.rl.rewards import normalize, parse_response
from training_bridge.rl.rollout import continuation_batch, make_rollouts, render_prompt, sample_group
from training_bridge.train.batch_device import to_device
from training_bridge.train.distributed import DistEnv
from training_bridge.train.precision import autocast
from training_bridge.train.token_logprobs import token_logprobs
from training_bridge.train.train_config import RLAIFConfig

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r";\s+|,\s+and\s+")
LONG_CLAIM = 80  # characters above which a sentence is split further at clause boundaries


def split_claims(text: str) -> list[str]:
    """Atomic claims of an answer: sentences and lines, long ones cut at "; " and ", and "."""
    claims = []
    for sentence in _SENTENCE.split(text):
        parts = _CLAUSE.split(sentence) if len(sentence) > LONG_CLAIM else [sentence]
        claims += [p.strip() for p in parts if len(p.strip()) >= 2]
    return claims


class ClaimVerifier(Protocol):
    """Scores claims about a prompt's image(s): 1 = supported, 0 = contradicted or unsupported."""

    def score(self, prompt: Prompt, claims: list[str]) -> list[float]: ...


class OverlapVerifier:
    """Built-in stand-in: share of a claim's character trigrams present in the prompt's context text."""

    def score(self, prompt: Prompt, claims: list[str]) -> list[float]:
        context = normalize(prompt.context or prompt.reference)
        known = {context[i : i + 3] for i in range(len(context) - 2)}
        scores = []
        for claim in claims:
            c = normalize(claim)
            grams = [c[i : i + 3] for i in range(len(c) - 2)]
            scores.append(sum(g in known for g in grams) / len(grams) if grams else 0.0)
        return scores


class JudgeVerifier:
    """A MiniCPM-V model as judge: p(yes) / (p(yes) + p(no)) for "Is this statement correct?" in short mode."""

    QUESTION = "Is the following statement about the image correct? Answer yes or no.\nStatement: {claim}"

    def __init__(self, model: MiniCPMV, processor: MiniCPMVProcessor, device: torch.device, precision: str = "auto") -> None:
        self.model, self.processor, self.device, self.precision = model.eval(), processor, device, precision

    @torch.no_grad()
    def score(self, prompt: Prompt, claims: list[str]) -> list[float]:
        if not claims:
            return []
        marker = "<video>\n" if prompt.videos else "<image>\n" * len(prompt.images)
        tok = self.processor.tokenizer
        samples = [self.processor([{"role": "user", "content": marker + self.QUESTION.format(claim=c)}], prompt.images,
                                  prompt.videos, add_generation_prompt=True) for c in claims]
        yes, no = tok.encode("yes"), tok.encode("no")
        batch = to_device(continuation_batch(samples + samples, [yes] * len(claims) + [no] * len(claims), tok.pad_token_id),
                          self.device)
        with autocast(self.device, self.precision):
            logp, _ = token_logprobs(self.model, batch)
        seq = logp.sum(-1).float()
        p_yes, p_no = seq[: len(claims)], seq[len(claims) :]
        return torch.sigmoid(p_yes - p_no).tolist()


@dataclass
class ScoredResponse:
    """One sampled response with its claims, their scores and the response score (-rejected claims)."""

    response_ids: list[int]
    text: str
    claims: list[str]
    claim_scores: list[float]
    score: float


@dataclass
class PreferencePair:
    """A preferred and a dispreferred response to one prompt, in the prompt's `mode`."""

    prompt_uid: str
    mode: str
    chosen_ids: list[int]
    rejected_ids: list[int]
    chosen_text: str
    rejected_text: str
    chosen_score: float
    rejected_score: float

    def to_dict(self) -> dict:
        return asdict(self)


def pair_indices(scored: list[ScoredResponse], min_gap: float, max_pairs: int) -> list[tuple[int, int]]:
    """(chosen, rejected) indices for one prompt, by the rule of the module docstring."""
    candidates = [(i, j) for i, a in enumerate(scored) for j, b in enumerate(scored)
                  if a.claims and b.claims and a.score - b.score >= min_gap]
    candidates.sort(key=lambda ij: (-(scored[ij[0]].score - scored[ij[1]].score),
                                    abs(len(scored[ij[0]].text) - len(scored[ij[1]].text)), ij))
    used: set[int] = set()
    pairs = []
    for i, j in candidates:
        if len(pairs) >= max_pairs:
            break
        if i not in used and j not in used:
            pairs.append((i, j))
            used |= {i, j}
    return pairs


def collect_pairs(model: MiniCPMV, processor: MiniCPMVProcessor, prompts: list[Prompt], cfg: RLAIFConfig,
                  verifier: ClaimVerifier, env: DistEnv, precision: str = "auto", progress: bool = True,
                  splitter: Callable[[str], list[str]] = split_claims) -> list[PreferencePair]:
    """Sample, split, verify and pair over `prompts` (this rank's); see the module docstring."""
    mode = "long" if cfg.thinking else "short"
    pairs: list[PreferencePair] = []
    model.eval()
    for k, prompt in enumerate(tqdm(prompts, desc="rlaif", disable=not (progress and env.is_main))):
        sample = render_prompt(processor, prompt, mode)
        out = sample_group(model, processor, sample, cfg.responses_per_prompt, cfg.max_new_tokens, cfg.temperature,
                           env.device, precision)
        scored = []
        for r in make_rollouts(k, mode, out, processor):
            parsed = parse_response(r.text, mode)
            claims = splitter(parsed.answer) if parsed.well_formed else []
            claim_scores = verifier.score(prompt, claims) if claims else []
            rejected = sum(s < cfg.reject_below for s in claim_scores)
            scored.append(ScoredResponse(r.response_ids, r.text, claims, claim_scores, -float(rejected)))
        for i, j in pair_indices(scored, cfg.min_gap, cfg.pairs_per_prompt):
            a, b = scored[i], scored[j]
            pairs.append(PreferencePair(prompt.uid, mode, a.response_ids, b.response_ids, a.text, b.text, a.score, b.score))
    log.info("rank %d: %d preference pairs from %d prompts", env.rank, len(pairs), len(prompts))
    return pairs
