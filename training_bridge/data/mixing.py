"""Weighted mixing of several corpora (documents, images, videos), deterministic given the seed.

Each worker reads its share of every corpus; `interleave` decides, read by read, which corpus the next
sample comes from, with probability proportional to its weight among the corpora with samples left.
Two mixing modes (`DataConfig.mixing`: "weights" when weights are given):

- "weights": each corpus's share of an epoch is its weight's share (`quotas`, largest remainder): a
  corpus given more than its size repeats (pass after pass over its samples), one given less is
  subsampled (its first samples of this epoch's order, a different subset every epoch). The epoch keeps
  the length of all corpora together, so `samples_per_epoch` and resume work as in "sizes".
- "sizes": every sample of every corpus exactly once per epoch; the weights only set how the corpora are
  spread over it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Sequence

MIX_WEIGHTS = "weights"
MIX_SIZES = "sizes"
MIXING_MODES = (MIX_WEIGHTS, MIX_SIZES)


@dataclass(frozen=True)
class Source:
    """One corpus folder (local path or fsspec URL) and its mixing weight."""

    url: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"{self.url}: mixing weight must be positive, got {self.weight}")


def interleave(rng: random.Random, lengths: list[int], weights: list[float]) -> Iterator[int]:
    """Source numbers in read order: source `s` appears `lengths[s]` times, drawn by weight among the rest."""
    left = list(lengths)
    active = [s for s, n in enumerate(left) if n > 0]
    while active:
        if len(active) == 1:
            s = active[0]
        else:
            x = rng.random() * sum(weights[a] for a in active)
            for s in active:
                x -= weights[s]
                if x < 0:
                    break
        left[s] -= 1
        if left[s] == 0:
            active.remove(s)
        yield s


def quotas(lengths: Sequence[int], weights: Sequence[float]) -> list[int]:
    """Samples each source gives an epoch of `sum(lengths)` samples, split by weight (largest remainder,
    ties to the lower source number); a source with no samples gets none and its weight goes to the rest."""
    live = [s for s, n in enumerate(lengths) if n > 0]
    if not live:
        return [0] * len(lengths)
    total, wsum = sum(lengths), sum(weights[s] for s in live)
    exact = {s: total * weights[s] / wsum for s in live}
    q = {s: int(exact[s]) for s in live}
    for s in sorted(live, key=lambda s: (q[s] - exact[s], s))[: total - sum(q.values())]:
        q[s] += 1
    return [q.get(s, 0) for s in range(len(lengths))]
