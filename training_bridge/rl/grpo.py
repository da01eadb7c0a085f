"""Hybrid GRPO (paper §2.4): the trainer, one RL step top to bottom; the outer loop is `train/loop.py`'s.

    result = train_rl(RLConfig(...))        # or: mmcorpus train rl --config configs/train_rl.yaml

Each step, one module per part:
1. Take `prompts_per_step` prompts (a seeded permutation per epoch of this rank's prompts) and give
   `long_fraction` of them long mode, the rest short; the mode is set by the template only (`picking.py`).
2. Sample `group_size` responses per prompt at `temperature`: batched across prompts with a KV cache and
   a seed per prompt (`batched_rollout.py`), or from a vLLM engine synced after each update (`rollout.py`).
3. Reward each response (`scoring.py`; the terms in `rewards.py`): accuracy (rule-based for short
   references; RLPR for free-form ones in long mode), format, repetition penalty, and in long mode the
   group-standardised preference score of the final answer by the judge (`judges.py`; default a frozen
   snapshot of the policy taken before the first update), weighted. Free-form groups are std-filtered (RLPR),
   with decisions and threshold agreed by all ranks (`std_filter.py`).
4. Advantage = (R - group mean) / group std; groups without variance carry no signal and are skipped.
5. `epochs` passes of `minibatches` optimizer steps over the rollouts; loss = PPO-clipped ratio times
   advantage (ratio clipped to [1 - clip_low, 1 + clip_high]), **no KL and no entropy term**, averaged
   over all response tokens of the minibatch on all ranks ("token") or per sequence ("sequence"). Old
   log-probs come from a no-grad pass before the first update when there is more than one update per
   step, else the ratio is 1 and its gradient is the policy gradient (`policy_update.py`).
6. Log reward terms, accuracy per mode, mode counts, clipping, the RLPR threshold (global sums over global
   counts, `step_stats.py`); checkpoint (weights, optimizer, LR scheduler, RNG, the std-filter state, the same
   on every rank) every `save_every` steps.

With several processes each rank runs its own prompts; every cross-prompt figure (the std filter, the
logged means, the loss normalisation) is all-reduced, so ranks agree on what is kept. Replicated (parallel
none/ddp): gradients are summed across ranks by hand (`distributed.all_reduce_gradients`) so ranks may skip
different groups. FSDP: the actor is sharded like SFT; its whole weights are held gathered through rollouts
and scoring, and every rank runs as many micro-batches as the busiest one (zero-weight extras), as FSDP's collectives require.

Why not TRL's GRPOTrainer: it expects a `PreTrainedModel` with a Hugging Face processor (our model
slices images itself and generates from input embeddings), sums the reward functions before the group
normalisation (the paper standardises only the preference score within the group, then weights it),
gives reward functions no access to the policy (RLPR needs its probabilities), and has no per-prompt
mode assignment or RLPR std filter. The clipped loss itself is a few lines (`grpo_token_loss`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.config import to_dict
from training_bridge.data.stream import derived_seed
from training_bridge.rl.judges import PolicyJudges, load_preference_model, run_warnings
from training_bridge.rl.picking import pick_prompts
from training_bridge.rl.policy_update import PolicyUpdate
from training_bridge.rl.prompts import Prompt, load_prompts
from training_bridge.rl.rewards import PreferenceModel
from training_bridge.rl.rollout import step_rollouts
from training_bridge.rl.scoring import GroupScorer
from training_bridge.rl.std_filter import agreed_state
from training_bridge.rl.step_stats import StepStats, step_stats
from training_bridge.rl.vllm_rollout import make_engine
from training_bridge.train.checkpointing import Resumed
from training_bridge.train.distributed import (
    DistEnv,
    hold_unsharded,
    is_sharded,
    release_unsharded,
    resolve_parallel,
    wrap_model,
)
from training_bridge.train.freezing import freeze_for_stage
from training_bridge.train.loop import CheckpointState, launch, run_loop, seed_everything
from training_bridge.train.memory_plan import checked_plan
from training_bridge.train.model_build import build_model
from training_bridge.train.optim import build_optimizer
from training_bridge.train.train_config import RLConfig


@dataclass
class RLResult:
    history: list[StepStats] = field(default_factory=list)
    final_model: Path | None = None


def train_rl(cfg: RLConfig, prompts: list[Prompt] | None = None, rm: PreferenceModel | None = None) -> RLResult:
    """Run (or resume) hybrid GRPO; `prompts` and `rm` default to the config's corpora and `reward.rm`."""
    def body(env: DistEnv) -> RLResult:
        trainer = HybridGRPO(cfg, env, prompts if prompts is not None else load_prompts(cfg.data, cfg.tasks, env), rm)
        done = run_loop(trainer, cfg.run, env)
        return RLResult(done.history, done.final_model)

    return launch(cfg.run, body)


class HybridGRPO:
    """The policy, its optimizer, the rollout engine, the scorer and the update; `step()` runs one RL step."""

    name, progress = "rl", ("reward", "accuracy")

    def __init__(self, cfg: RLConfig, env: DistEnv, prompts: list[Prompt], rm: PreferenceModel | None = None) -> None:
        if not prompts:
            raise ValueError("no prompt to train on: give prompts or corpora with prompts of tasks.kinds")
        self.cfg, self.env, self.prompts = cfg, env, prompts
        checked_plan(cfg, env)
        self.model, self.processor = build_model(cfg.model, cfg.run.seed)
        freeze_for_stage(self.model, "all")
        # the judge before any update (and before wrapping): "snapshot" deep-copies the initial weights
        self.warnings = run_warnings(cfg) if rm is None else []
        rm = rm if rm is not None else load_preference_model(
            cfg.reward.rm, PolicyJudges(self.model, self.processor, env.device, cfg.run.precision), env.device,
            cfg.run.precision)
        # FSDP: sharded like SFT; otherwise replicated, gradients summed by hand (`all_reduce_gradients`).
        parallel = "fsdp" if resolve_parallel(cfg.run.parallel, env) == "fsdp" else "none"
        self.model = wrap_model(self.model, env, parallel, cfg.run.precision, cfg.run.activation_checkpointing,
                                cfg.run.reduce_dtype)
        self.engine = make_engine(cfg.rollout, self.model, self.processor, cfg.model, env.device, cfg.run.precision)
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim, cfg.run.steps)
        self.scorer = GroupScorer(self.model, self.processor, cfg, env, rm)
        self.update = PolicyUpdate(self.model, self.optimizer, cfg, env, self.processor.tokenizer.pad_token_id,
                                   is_sharded(self.model))

    def header(self) -> dict[str, Any]:
        return {"config": to_dict(self.cfg), "warnings": self.warnings}

    def start(self, resumed: Resumed | None) -> None:
        if resumed is not None:  # every rank reads the one state rank 0 wrote (the same on every rank)
            self.scorer.std_filter.load_state_dict(resumed.extra["std_filter"])
        else:
            seed_everything(derived_seed(self.cfg.run.seed, self.env.rank) % (2**31))  # ranks sample different rollouts

    def checkpoint_state(self) -> CheckpointState:
        return CheckpointState(extra={"std_filter": agreed_state(self.scorer.std_filter, self.env)})

    def finish(self) -> None:
        return None

    def step(self, step: int) -> StepStats:
        """Pick, roll out, score, update; the step's stats over all ranks."""
        g, env = self.cfg.grpo, self.env
        picks = pick_prompts(len(self.prompts), g, step, self.cfg.run.seed, env.rank)
        self.model.eval()
        hold_unsharded(self.model)  # FSDP: whole weights through rollouts and scoring, no per-forward collectives
        seeds = [derived_seed(self.cfg.run.seed, env.rank, step, 3, k) for k in range(len(picks))]
        rollouts, samples = step_rollouts(self.engine, self.processor, self.prompts, picks, g.group_size,
                                          {"long": g.max_new_tokens, "short": g.max_new_tokens_short}, g.temperature,
                                          self.cfg.rollout.batch_prompts, seeds)
        scored = self.scorer.score_step(self.prompts, picks, rollouts, samples)
        release_unsharded(self.model)

        self.model.train()
        update = self.update(step, rollouts, samples, scored.advantages)
        self.scheduler.step()
        self.engine.sync(self.model)
        return step_stats(rollouts, scored.parts, scored.keeps, g.group_size, update,
                          self.scorer.std_filter.threshold, env)
