"""Which rows a step takes: GRPO's prompts with their modes, DPO's preference pairs.

Rows come from seeded per-epoch permutations of this rank's `n` rows, read as one endless sequence: step
`s` takes positions `s * size` to `(s + 1) * size - 1`, so a resumed run takes the rows it would have taken,
and a row recurs within a step only when the step is larger than the epoch.
"""
from __future__ import annotations

import random

from training_bridge.data.stream import derived_seed
from training_bridge.train.train_config import GRPOConfig


def epoch_rows(n: int, size: int, step: int, seed: int, rank: int) -> list[int]:
    """Rows of `step`: consecutive positions in seeded per-epoch permutations of the `n` local rows."""
    rows: list[int] = []
    for position in range(step * size, (step + 1) * size) if n else ():
        order = list(range(n))
        random.Random(derived_seed(seed, rank, position // n)).shuffle(order)
        rows.append(order[position % n])
    return rows


def pick_prompts(n: int, cfg: GRPOConfig, step: int, seed: int, rank: int) -> list[tuple[int, str]]:
    """(prompt index, mode) of a GRPO step: `prompts_per_step` rows of the `n` prompts; `long_fraction` of them
    in long mode (the count rounded stochastically, so the expected share is exact), chosen at random."""
    indices = epoch_rows(n, cfg.prompts_per_step, step, seed, rank)
    rng = random.Random(derived_seed(seed, rank, step, 1))
    n_long = int(cfg.prompts_per_step * cfg.long_fraction + rng.random())
    long = set(rng.sample(range(cfg.prompts_per_step), n_long))
    return [(index, "long" if j in long else "short") for j, index in enumerate(indices)]
