"""RLPR's std filter (paper §2.4), agreed by every rank: which groups carry enough signal to train on.

A group is kept when its total reward varies and, for a group scored by RLPR (free-form reference, long
mode), when the std of its RLPR reward (not the total) reaches the threshold: an exponential moving average
(`momentum`) of the mean RLPR std over the groups of the previous steps; 0 before the first RLPR group (only
constant groups dropped), then that step's mean.

Every figure the decision reads is global. Each step, every rank's group stds are gathered onto every rank
(`distributed.all_gather_floats`, one all-reduce); the keep decision of every group of every rank is a pure
function of that table and the threshold before the step; the threshold is then updated from the whole table
read in rank order. So every rank holds the same threshold, bit for bit, and the same keep decisions, and a
run on W ranks keeps what one process holding all W ranks' groups (in rank order) would keep. The state
(threshold, updates) is therefore the same on every rank: `agreed_state` checks that before a checkpoint
stores it (rank 0 writes `trainer.json`), and every rank restores it from that one file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from training_bridge.rl.rewards import RewardParts
from training_bridge.train.distributed import DistEnv, all_gather_floats

_EPS = 1e-6


@dataclass(frozen=True)
class GroupSpread:
    """How much one group's rewards vary: std of the totals, and of the RLPR rewards (None: not an RLPR group)."""

    total: float
    rlpr: float | None

    @classmethod
    def of(cls, terms: list[RewardParts], rlpr: bool) -> GroupSpread:
        """The spread of a group's reward terms; `rlpr`: whether its accuracy term is the RLPR reward."""
        def std(values: list[float]) -> float:
            return float(torch.tensor(values, dtype=torch.float64).std()) if len(values) > 1 else 0.0

        return cls(std([t.total for t in terms]), std([t.accuracy for t in terms]) if rlpr else None)


class StdFilter:
    """The threshold state: `threshold`, an EMA of the mean RLPR group std, and how many `updates` set it."""

    def __init__(self, momentum: float = 0.99) -> None:
        self.momentum = momentum
        self.threshold = 0.0
        self.updates = 0

    def keep(self, std: float) -> bool:
        """Whether an RLPR reward std passes: above zero and at least the threshold."""
        return std > _EPS and std >= self.threshold

    def update(self, stds: list[float]) -> None:
        """Fold the mean of a step's RLPR group stds into the threshold (nothing when the step had none)."""
        if not stds:
            return
        mean = sum(stds) / len(stds)
        self.threshold = mean if self.updates == 0 else self.momentum * self.threshold + (1 - self.momentum) * mean
        self.updates += 1

    def state_dict(self) -> dict[str, float]:
        return {"threshold": self.threshold, "updates": self.updates}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.threshold, self.updates = float(state["threshold"]), int(state["updates"])


def keeps(spread: GroupSpread, std_filter: StdFilter | None) -> bool:
    """Whether a group is trained on: its total varies and, for an RLPR group, `std_filter` (None: off) passes it."""
    if spread.total <= _EPS:
        return False
    return spread.rlpr is None or std_filter is None or std_filter.keep(spread.rlpr)


def global_spreads(local: list[GroupSpread], env: DistEnv) -> list[list[GroupSpread]]:
    """Every rank's group spreads in rank order, the same on every rank (one all-reduce; NaN marks "not RLPR")."""
    flat = [v for s in local for v in (s.total, math.nan if s.rlpr is None else s.rlpr)]
    return [[GroupSpread(row[i], None if math.isnan(row[i + 1]) else row[i + 1]) for i in range(0, len(row), 2)]
            for row in all_gather_floats(flat, env)]


def agreed_keeps(local: list[GroupSpread], std_filter: StdFilter | None, env: DistEnv) -> list[list[bool]]:
    """The keep decision of every group of every rank (row `env.rank` is this rank's groups), from the global
    spreads and the threshold before this step; then the threshold updated from all ranks' RLPR stds."""
    table = global_spreads(local, env)
    decisions = [[keeps(s, std_filter) for s in row] for row in table]
    if std_filter is not None:
        std_filter.update([s.rlpr for row in table for s in row if s.rlpr is not None])
    return decisions


def agreed_state(std_filter: StdFilter, env: DistEnv) -> dict[str, float]:
    """`std_filter`'s state after checking that every rank holds the same (collective; RuntimeError otherwise)."""
    state = std_filter.state_dict()
    rows = all_gather_floats([state["threshold"], state["updates"]], env)
    if any(row != rows[0] for row in rows):
        raise RuntimeError(f"RLPR std filter state differs across ranks: {rows}")
    return state
