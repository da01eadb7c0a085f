"""The epoch partition: which samples each (rank, worker) reads, disjoint and complete.

`partition(index, seed, epoch, consumers)` splits one epoch among `consumers` readers (world size x
workers). The epoch's global order is the shards in a seeded random order, each shard's samples in file
order; consumer `c` takes the contiguous range `[c*N//C, (c+1)*N//C)` of that order. Ranges are disjoint,
cover every sample exactly once, and differ in length by at most one sample. With many shards per
consumer a range is whole shards plus at most two partial ones (a split at the shard level); with fewer
shards than consumers a shard is cut into sample ranges read through the stats byte offsets (a split at
the sample level). Either way a consumer reads its pieces sequentially.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.index import CorpusIndex


@dataclass(frozen=True)
class Piece:
    """Samples `[start, stop)` (corpus-wide sample numbers) of shard `shard`, read in file order."""

    shard: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def epoch_rng(seed: int, *parts: int) -> np.random.Generator:
    """A generator that depends only on `seed` and `parts` (epoch, source, consumer...)."""
    return np.random.default_rng([seed, *parts])


def shard_order(index: CorpusIndex, seed: int, epoch: int, source: int) -> np.ndarray:
    """The shards of one epoch in their seeded random order."""
    return epoch_rng(seed, epoch, source).permutation(index.n_shards)


def partition(index: CorpusIndex, seed: int, epoch: int, source: int, consumers: int) -> list[list[Piece]]:
    """For each consumer, its pieces of the epoch: contiguous, balanced ranges of the shuffled global order."""
    order = shard_order(index, seed, epoch, source)
    lengths = np.diff(index.shard_starts)[order]
    ends = np.cumsum(lengths)  # end position of each shard in the global order
    n = index.n_samples
    plan: list[list[Piece]] = []
    for c in range(consumers):
        lo, hi = c * n // consumers, (c + 1) * n // consumers
        pieces = []
        first = int(np.searchsorted(ends, lo, side="right"))
        for j in range(first, len(order)):
            begin = int(ends[j] - lengths[j])
            if begin >= hi:
                break
            a, b = max(lo, begin), min(hi, int(ends[j]))
            base = int(index.shard_starts[order[j]]) - begin
            if a < b:
                pieces.append(Piece(int(order[j]), base + a, base + b))
        plan.append(pieces)
    return plan
