"""The shuffle buffer, run on sample numbers instead of sample bytes, so a resume never re-reads the past.

`shuffled(reads, buffer_size, rng)` turns a read order into events: `(READ, item)` when the stream should
fetch the next sample from its shard, `(EMIT, item)` when the buffer hands a sample on. It is the usual
streaming shuffle (fill the buffer, then each read evicts a random member; drain at the end) and depends
only on the read order and the generator, so replaying it without I/O reproduces the exact state after
any number of emissions: the stream resumes at emission `n` by fetching only the samples still buffered.
"""
from __future__ import annotations

import random
from typing import Hashable, Iterable, Iterator, TypeVar

READ, EMIT = 0, 1
T = TypeVar("T", bound=Hashable)


def shuffled(reads: Iterable[T], buffer_size: int, rng: random.Random) -> Iterator[tuple[int, T]]:
    """READ/EMIT events of a shuffle buffer holding up to `buffer_size` items (<= 1: no shuffling)."""
    buffer: list[T] = []
    for item in reads:
        yield READ, item
        buffer.append(item)
        if len(buffer) >= max(buffer_size, 1):
            yield EMIT, _pop_random(buffer, rng)
    while buffer:
        yield EMIT, _pop_random(buffer, rng)


def _pop_random(buffer: list[T], rng: random.Random) -> T:
    j = rng.randrange(len(buffer))
    buffer[j], buffer[-1] = buffer[-1], buffer[j]
    return buffer.pop()
