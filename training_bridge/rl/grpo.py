"""Hybrid GRPO (PAPER.md section 9): the loss, and the RL loop top to bottom.

    result = train_rl(RLConfig(...))        # or: mmcorpus train rl --config configs/train_rl.yaml

Each step:
1. Take `prompts_per_step` prompts (a seeded permutation per epoch of this rank's prompts) and give
   `long_fraction` of them long mode, the rest short; the mode is set by the template only.
2. Sample `group_size` responses per prompt at `temperature`: batched across prompts with a KV cache and
   a seed per prompt (`batched_rollout.py`), or from a vLLM engine synced after each update (`rollout`).
3. Reward each response (`rewards.py`): accuracy (rule-based for short references; RLPR for free-form
   ones in long mode), format, repetition penalty, and in long mode the group-standardised preference
   score of the final answer, weighted. Free-form groups are std-filtered (RLPR).
4. Advantage = (R - group mean) / group std; groups without variance carry no signal and are skipped.
5. `epochs` passes of `minibatches` optimizer steps over the rollouts; loss = PPO-clipped ratio times
   advantage (ratio clipped to [1 - clip_low, 1 + clip_high]), **no KL and no entropy term**, averaged
   over all response tokens of the minibatch on all ranks ("token") or per sequence ("sequence"). Old
   log-probs come from a no-grad pass before the first update when there is more than one update per
   step, else the ratio is 1 and its gradient is the policy gradient.
6. Log reward terms, accuracy per mode, mode counts, clipping (over all ranks); checkpoint (weights, optimizer, LR
   scheduler, RNG, the std-filter threshold) every `save_every` steps.

With several processes each rank runs its own prompts. Replicated (parallel none/ddp): gradients are summed
across ranks by hand (`distributed.all_reduce_gradients`) so ranks may skip different groups. FSDP: the
actor is sharded like SFT; its whole weights are held gathered through rollouts and scoring, and every
rank runs as many micro-batches as the busiest one (zero-weight extras), as FSDP's collectives require.

Why not TRL's GRPOTrainer: it expects a `PreTrainedModel` with a Hugging Face processor (our model
slices images itself and generates from input embeddings), sums the reward functions before the group
normalisation (the paper standardises only the preference score within the group, then weights it),
gives reward functions no access to the policy (RLPR needs its probabilities), and has no per-prompt
mode assignment or RLPR std filter. The clipped loss itself is a few lines (`grpo_token_loss`).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from corpus.config import to_dict
from training_bridge.data.stream import derived_seed
from training_bridge.rl.judges import load_preference_model, run_warnings
from training_bridge.rl.rewards import (
    PreferenceModel,
    RewardParts,
    StdFilter,
    combine,
    keep_group,
    parse_response,
    rlpr_score,
    similarity,
    standardize,
    verify_short,
)
from training_bridge.rl.rl_tasks import FREE_FORM, Prompt, load_prompts
from training_bridge.rl.rlaif import JudgeVerifier
from training_bridge.rl.rollout import Rollout, continuation_batch, render_prompt, step_rollouts
from training_bridge.rl.vllm_rollout import make_engine
from training_bridge.train.checkpointing import latest_checkpoint, load_training_state, save_model, save_training_state
from training_bridge.train.distributed import (
    DistEnv,
    all_reduce_gradients,
    all_reduce_sum,
    even_micro_batches,
    hold_unsharded,
    init_distributed,
    is_sharded,
    no_sync,
    release_unsharded,
    resolve_parallel,
    shutdown,
    wrap_model,
)
from training_bridge.train.freezing import apply_stage
from training_bridge.train.memory_plan import plan_for
from training_bridge.train.model_io import autocast, build_model, chunks, to_device, token_logprobs
from training_bridge.train.optim import build_optimizer, clip_gradients
from training_bridge.train.runlog import MetricsLog
from training_bridge.train.sft import seed_everything, set_threads
from training_bridge.train.train_config import RLConfig

log = logging.getLogger(__name__)


def grpo_token_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip_low: float, clip_high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token clipped surrogate loss `(B, T)` (zero off the mask), and where clipping was active.

    `-min(r A, clip(r, 1 - clip_low, 1 + clip_high) A)` with `r = exp(logp - old_logp)`; no KL, no entropy.
    """
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None].to(logp.dtype)
    loss = -torch.minimum(ratio * adv, ratio.clamp(1 - clip_low, 1 + clip_high) * adv)
    clipped = ((ratio < 1 - clip_low) & (adv < 0)) | ((ratio > 1 + clip_high) & (adv > 0))
    return loss * mask, clipped & mask


def group_advantages(rewards: list[float]) -> list[float]:
    """(R - mean) / std over one prompt's group (zeros when it does not vary)."""
    return standardize(rewards)


@dataclass
class StepStats:
    """What one RL step logs."""

    reward: float
    accuracy: float
    format: float
    repetition: float
    rm: float
    accuracy_short: float | None
    accuracy_long: float | None
    n_short: int
    n_long: int
    kept_groups: int
    groups: int
    loss: float = 0.0
    clip_fraction: float = 0.0
    response_tokens: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def across_ranks(self, env: DistEnv) -> "StepStats":
        """Counts summed and means averaged over ranks (a mode no rank sampled stays None)."""
        if not env.distributed:
            return self
        out = {}
        for key, value in self.__dict__.items():
            if isinstance(value, int):
                out[key] = int(all_reduce_sum(value, env))
            else:
                present = all_reduce_sum(float(value is not None), env)
                total = all_reduce_sum(value or 0.0, env)
                out[key] = total / present if present else None
        return StepStats(**out)


@dataclass
class RLResult:
    history: list[StepStats] = field(default_factory=list)
    final_model: Path | None = None


class HybridGRPO:
    """The policy, its optimizer and the reward machinery; `step()` runs one RL step (module docstring)."""

    def __init__(self, cfg: RLConfig, env: DistEnv, prompts: list[Prompt], rm: PreferenceModel | None = None) -> None:
        self.cfg, self.env, self.prompts = cfg, env, prompts
        plan = plan_for(cfg, env.world_size, env.device)
        if env.is_main:
            log.info("%s", plan.table())
        plan.check()
        self.model, self.processor = build_model(cfg.model, cfg.run.seed)
        apply_stage(self.model, "all")
        # FSDP: sharded like SFT; otherwise replicated, gradients summed by hand (`all_reduce_gradients`).
        parallel = "fsdp" if resolve_parallel(cfg.run.parallel, env) == "fsdp" else "none"
        self.model = wrap_model(self.model, env, parallel, cfg.run.precision, cfg.run.activation_checkpointing,
                                cfg.run.reduce_dtype)
        self.sharded = is_sharded(self.model)
        self.engine = make_engine(cfg.rollout, self.model, self.processor, cfg.model, env.device, cfg.run.precision)
        # the policy judges its own answers on the image unless reward.rm names another judge (paper §2.4)
        judge = JudgeVerifier(self.model, self.processor, env.device, cfg.run.precision)
        self.rm = rm if rm is not None else load_preference_model(cfg.reward.rm, judge, env.device, cfg.run.precision)
        self.warnings = run_warnings(cfg) if rm is None else []
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim, cfg.run.steps)
        self.std_filter = StdFilter(cfg.reward.std_filter_momentum)
        self.pad_id = self.processor.tokenizer.pad_token_id
        self.think_close = self.processor.tokenizer.token_id("</think>")

    # -- 1. prompts and modes --------------------------------------------------------------------------------
    def pick(self, step: int) -> list[tuple[int, str]]:
        """(prompt index, mode) for this step: seeded epoch permutations of the prompts; `long_fraction` of
        them in long mode (the count rounded stochastically, so the expected share is exact), chosen at random."""
        g, n, seed = self.cfg.grpo, len(self.prompts), self.cfg.run.seed
        indices = []
        for j in range(g.prompts_per_step):
            position = step * g.prompts_per_step + j
            order = list(range(n))
            random.Random(derived_seed(seed, self.env.rank, position // n)).shuffle(order)
            indices.append(order[position % n])
        rng = random.Random(derived_seed(seed, self.env.rank, step, 1))
        n_long = int(g.prompts_per_step * g.long_fraction + rng.random())
        long = set(rng.sample(range(g.prompts_per_step), n_long))
        return [(index, "long" if j in long else "short") for j, index in enumerate(indices)]

    # -- 3. rewards ------------------------------------------------------------------------------------------
    def group_rewards(self, prompt: Prompt, rollouts: list[Rollout], prompt_sample) -> tuple[list[RewardParts], bool]:
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
    def rlpr(self, prompt: Prompt, prompt_sample, rollouts: list[Rollout], parsed) -> list[float]:
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

    def reference_probs(self, prompts, continuations: list[list[int]], n_ref: int) -> list[torch.Tensor]:
        """Probabilities of the `n_ref` reference tokens just before each continuation's end-of-turn token."""
        out = []
        mb = self.cfg.grpo.micro_batch_size
        for i in range(0, len(prompts), mb):
            batch = to_device(continuation_batch(prompts[i : i + mb], continuations[i : i + mb], self.pad_id), self.env.device)
            with autocast(self.env.device, self.cfg.run.precision):
                logp, mask = token_logprobs(self.model, batch)
            for row, m in zip(logp, mask):
                values = row[m]
                out.append(values[-1 - n_ref : -1].exp())
        return out

    # -- the step --------------------------------------------------------------------------------------------
    def step(self, step: int) -> StepStats:
        g, env = self.cfg.grpo, self.env
        picks = self.pick(step)
        self.model.eval()
        hold_unsharded(self.model)  # FSDP: whole weights through rollouts and scoring, no per-forward collectives
        seeds = [derived_seed(self.cfg.run.seed, env.rank, step, 3, k) for k in range(len(picks))]
        rollouts, samples = step_rollouts(self.engine, self.processor, self.prompts, picks, g.group_size,
                                          {"long": g.max_new_tokens, "short": g.max_new_tokens_short}, g.temperature,
                                          self.cfg.rollout.batch_prompts, seeds)

        parts: list[RewardParts] = []
        advantages: list[float] = []
        kept_groups, rlpr_stds = 0, []
        for k, (index, _) in enumerate(picks):
            group = rollouts[k * g.group_size : (k + 1) * g.group_size]
            terms, rlpr = self.group_rewards(self.prompts[index], group, samples[k])
            parts += terms
            keep, rlpr_std = keep_group(terms, rlpr, self.std_filter if self.cfg.reward.std_filter else None)
            if rlpr_std is not None:
                rlpr_stds.append(rlpr_std)
            kept_groups += keep
            advantages += group_advantages([t.total for t in terms]) if keep else [0.0] * len(group)
        self.std_filter.update(rlpr_stds)
        release_unsharded(self.model)

        self.model.train()
        loss, clip_fraction = self.update(step, rollouts, samples, advantages)
        self.scheduler.step()
        self.engine.sync(self.model)
        return self.stats(rollouts, parts, kept_groups, len(picks), loss, clip_fraction)

    # -- 5. the update ---------------------------------------------------------------------------------------
    def update(self, step: int, rollouts: list[Rollout], samples: dict[int, Any], advantages: list[float]
               ) -> tuple[float, float]:
        g, env = self.cfg.grpo, self.env
        active = [i for i, a in enumerate(advantages) if a != 0.0]
        if all_reduce_sum(len(active), env) == 0:
            return 0.0, 0.0
        prompt_of = [samples[i // g.group_size] for i in range(len(rollouts))]
        old: dict[int, torch.Tensor] = {}
        fallback = active[:1] or [0]  # what a rank with fewer micro-batches than another runs at zero weight
        if g.epochs * g.minibatches > 1:
            with torch.no_grad():
                for chunk, weight in even_micro_batches(chunks(active, g.micro_batch_size), fallback, env, self.sharded):
                    logp, mask = self._logprobs(chunk, rollouts, prompt_of)
                    if weight:
                        old.update({i: row[m] for i, row, m in zip(chunk, logp, mask)})
        rng = random.Random(derived_seed(self.cfg.run.seed, env.rank, step, 2))
        loss_total, clipped, counted = 0.0, 0.0, 0.0
        for _ in range(g.epochs):
            order = list(active)
            rng.shuffle(order)
            for mb in _split(order, g.minibatches):
                if g.loss_agg == "token":
                    local = sum(len(rollouts[i].response_ids) for i in mb)
                elif g.loss_agg == "sequence":
                    local = len(mb)
                else:
                    raise ValueError(f"loss_agg must be token or sequence, not {g.loss_agg!r}")
                denom = max(all_reduce_sum(local, env), 1.0)
                parts = even_micro_batches(chunks(mb, g.micro_batch_size), fallback, env, self.sharded)
                for k, (chunk, weight) in enumerate(parts):
                    with no_sync(self.model, skip=k < len(parts) - 1):
                        logp, mask = self._logprobs(chunk, rollouts, prompt_of)
                        old_logp = logp.detach().clone()
                        if old and weight:
                            old_logp[mask] = torch.cat([old[i] for i in chunk])
                        adv = torch.tensor([advantages[i] for i in chunk], device=logp.device)
                        token_loss, clip = grpo_token_loss(logp, old_logp, adv, mask, g.clip_low, g.clip_high)
                        if g.loss_agg == "token":
                            loss = token_loss.sum() / denom
                        else:
                            loss = (token_loss.sum(-1) / mask.sum(-1).clamp(min=1)).sum() / denom
                        (loss * weight).backward()
                    if weight:
                        loss_total += float(loss.detach())
                        clipped += float(clip.sum())
                        counted += float(mask.sum())
                if not self.sharded:
                    all_reduce_gradients(self.model, env)
                clip_gradients(self.model, self.cfg.optim.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
        return loss_total / (g.epochs * g.minibatches), clipped / max(counted, 1.0)

    def _logprobs(self, chunk: list[int], rollouts: list[Rollout], prompt_of: list[Any]):
        batch = continuation_batch([prompt_of[i] for i in chunk], [rollouts[i].response_ids for i in chunk], self.pad_id)
        with autocast(self.env.device, self.cfg.run.precision):
            return token_logprobs(self.model, to_device(batch, self.env.device), self.cfg.run.logprob_chunk)

    # -- 6. logs ---------------------------------------------------------------------------------------------
    def stats(self, rollouts: list[Rollout], parts: list[RewardParts], kept: int, groups: int, loss: float,
              clip_fraction: float) -> StepStats:
        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if values else None

        by_mode = {m: [p.accuracy for r, p in zip(rollouts, parts) if r.mode == m] for m in ("short", "long")}
        return StepStats(
            reward=mean([p.total for p in parts]), accuracy=mean([p.accuracy for p in parts]),
            format=mean([p.format for p in parts]), repetition=mean([p.repetition for p in parts]),
            rm=mean([p.rm for p in parts]), accuracy_short=mean(by_mode["short"]), accuracy_long=mean(by_mode["long"]),
            n_short=sum(r.mode == "short" for r in rollouts) // self.cfg.grpo.group_size,
            n_long=sum(r.mode == "long" for r in rollouts) // self.cfg.grpo.group_size,
            kept_groups=kept, groups=groups, loss=loss, clip_fraction=clip_fraction,
            response_tokens=mean([float(len(r.response_ids)) for r in rollouts]),
        )


def _split(items: list[int], parts: int) -> list[list[int]]:
    """`parts` near-equal consecutive pieces (some may be empty, so every rank takes the same optimizer steps)."""
    n = len(items)
    return [items[k * n // parts : (k + 1) * n // parts] for k in range(parts)]


def train_rl(cfg: RLConfig, prompts: list[Prompt] | None = None, rm: PreferenceModel | None = None) -> RLResult:
    """Run (or resume) hybrid GRPO; `prompts` and `rm` default to the config's corpora and `reward.rm`."""
    env = init_distributed()
    try:
        set_threads(cfg.run.cpu_threads)
        seed_everything(cfg.run.seed)
        prompts = prompts if prompts is not None else load_prompts(cfg.data, cfg.tasks, env)
        return _loop(HybridGRPO(cfg, env, prompts, rm), cfg, env)
    finally:
        shutdown(env)


def _loop(trainer: HybridGRPO, cfg: RLConfig, env: DistEnv) -> RLResult:
    run, out_dir = cfg.run, Path(cfg.run.out_dir)
    step = 0
    checkpoint = latest_checkpoint(out_dir) if run.resume else None
    if checkpoint is not None:
        resumed = load_training_state(checkpoint, env, trainer.model, trainer.optimizer, trainer.scheduler)
        trainer.std_filter.load_state_dict(resumed.extra["std_filter"])
        step = resumed.step
        log.info("resumed from %s at step %d", checkpoint, step)
    else:
        seed_everything(derived_seed(run.seed, env.rank) % (2**31))  # ranks sample different rollouts
    metrics = MetricsLog(out_dir, env.is_main)
    if checkpoint is None:
        metrics.write(0, {"config": to_dict(cfg), "warnings": trainer.warnings}, echo=False)
    result = RLResult()
    bar = tqdm(total=run.steps, initial=step, desc="rl", disable=not (run.progress and env.is_main))
    while step < run.steps:
        stats = trainer.step(step).across_ranks(env)
        step += 1
        result.history.append(stats)
        bar.update(1)
        bar.set_postfix(reward=f"{stats.reward:.3f}", acc=f"{stats.accuracy:.2f}")
        if step % run.log_every == 0 or step == run.steps:
            metrics.write(step, stats.as_dict())
        if step == run.steps or (run.save_every and step % run.save_every == 0):
            save_training_state(out_dir, step, env, trainer.model, trainer.optimizer, trainer.scheduler,
                                extra={"std_filter": trainer.std_filter.state_dict()}, keep=run.keep_checkpoints)
    bar.close()
    result.final_model = out_dir / "final" / "model"
    save_model(trainer.model, result.final_model, env)
    return result
