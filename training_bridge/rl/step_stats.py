"""What one GRPO step logs, over all ranks: every mean is a global sum over a global count.

Each rank contributes sums and counts (reward terms over its rollouts, accuracy per mode, response tokens,
its share of the loss, clipped tokens); one all-reduce adds them, and each figure is then divided by its
global count, so a rank with fewer rollouts of a mode weighs less, as it would in one process. The kept
groups come from the keep table every rank already agrees on; the RLPR threshold is the same on every rank.
"""
from __future__ import annotations

from dataclasses import dataclass

from training_bridge.rl.rewards import RewardParts
from training_bridge.rl.rollout import Rollout
from training_bridge.train.distributed import DistEnv, all_reduce_sums
from training_bridge.train.loop import StepMetrics


@dataclass
class StepStats(StepMetrics):
    """One RL step over all ranks: mean reward terms per rollout, accuracy per mode (None: no rank sampled the
    mode), groups per mode, kept and total groups, the loss, the share of clipped response tokens, the mean
    response length in tokens, and the RLPR std threshold after the step."""

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
    loss: float
    clip_fraction: float
    response_tokens: float
    std_threshold: float


def step_stats(rollouts: list[Rollout], parts: list[RewardParts], keeps: list[list[bool]], group_size: int,
               update: tuple[float, float, float], threshold: float, env: DistEnv) -> StepStats:
    """The step's `StepStats` (collective); `update`: this rank's (loss share, clipped tokens, response tokens)."""
    def of_mode(mode: str) -> list[float]:
        values = [p.accuracy for r, p in zip(rollouts, parts) if r.mode == mode]
        return [sum(values), float(len(values))]

    local = [sum(p.total for p in parts), sum(p.accuracy for p in parts), sum(p.format for p in parts),
             sum(p.repetition for p in parts), sum(p.rm for p in parts), float(len(parts)),
             *of_mode("short"), *of_mode("long"), *update, float(sum(len(r.response_ids) for r in rollouts))]
    (total, acc, fmt, rep, rm, n, acc_s, n_s, acc_l, n_l, loss, clipped, counted, tokens) = all_reduce_sums(local, env)
    n = max(n, 1.0)
    return StepStats(
        reward=total / n, accuracy=acc / n, format=fmt / n, repetition=rep / n, rm=rm / n,
        accuracy_short=acc_s / n_s if n_s else None, accuracy_long=acc_l / n_l if n_l else None,
        n_short=round(n_s) // group_size, n_long=round(n_l) // group_size,
        kept_groups=sum(map(sum, keeps)), groups=sum(map(len, keeps)), loss=loss,
        clip_fraction=clipped / max(counted, 1.0), response_tokens=tokens / n, std_threshold=threshold,
    )
