"""Weighted interleaving of several corpora (documents, images, videos), deterministic given the seed.

Each worker reads its share of every corpus; `interleave` decides, read by read, which corpus the next
sample comes from: a corpus not yet exhausted in this epoch, with probability proportional to its weight.
An epoch therefore holds every sample of every corpus exactly once; the weights set how the corpora are
spread over the epoch (equal to their sizes: evenly; larger: that corpus comes earlier). To see a corpus
twice per epoch, list it twice: each listing is partitioned and shuffled with its own seed.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator


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
