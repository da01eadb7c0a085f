"""Epoch partition, mixing and the index-level shuffle buffer: disjoint, complete, balanced, deterministic."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from corpus.index import CorpusIndex
from training_bridge.data.mixing import interleave
from training_bridge.data.order import EMIT, READ, shuffled
from training_bridge.data.partition import partition


def _index(counts: list[int]) -> CorpusIndex:
    n = sum(counts)
    return CorpusIndex(url="mem", shard_urls=[f"s{i}.tar" for i in range(len(counts))],
                       shard_starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                       keys=pa.array([str(i) for i in range(n)]), offsets=np.zeros(n, np.int64),
                       sizes=np.zeros(n, np.int64))


@pytest.mark.parametrize("counts,consumers", [
    ([10, 7, 13, 1, 5], 2),  # shard-level split with partial shards at the seams
    ([10, 7, 13, 1, 5], 4),
    ([9], 4),  # fewer shards than consumers: sample-level split
    ([3, 2], 7),  # fewer samples per consumer than one: some consumers get nothing
    ([100] * 40, 6),
])
def test_partition_is_disjoint_complete_and_balanced(counts, consumers):
    index = _index(counts)
    for epoch in range(3):
        plan = partition(index, seed=5, epoch=epoch, source=0, consumers=consumers)
        owned = [n for pieces in plan for p in pieces for n in range(p.start, p.stop)]
        assert sorted(owned) == list(range(index.n_samples))
        sizes = [sum(len(p) for p in pieces) for pieces in plan]
        assert max(sizes) - min(sizes) <= 1
        for pieces in plan:  # every piece stays inside its shard
            for p in pieces:
                assert index.shard_starts[p.shard] <= p.start < p.stop <= index.shard_starts[p.shard + 1]


def test_partition_reseeds_per_epoch_and_is_deterministic():
    index = _index([5] * 20)
    first = [p.shard for p in partition(index, 1, 0, 0, 1)[0]]
    assert first == [p.shard for p in partition(index, 1, 0, 0, 1)[0]]
    assert first != [p.shard for p in partition(index, 1, 1, 0, 1)[0]]
    assert first != [p.shard for p in partition(index, 2, 0, 0, 1)[0]]


def test_interleave_keeps_counts_and_follows_weights():
    draws = list(interleave(random.Random(0), [300, 300], [3.0, 1.0]))
    assert Counter(draws) == {0: 300, 1: 300}
    assert Counter(draws[:200])[0] > 130  # weight 3:1 front-loads source 0
    assert draws == list(interleave(random.Random(0), [300, 300], [3.0, 1.0]))


def test_shuffle_buffer_emits_a_permutation_and_replays_exactly():
    events = list(shuffled(range(100), 10, random.Random(3)))
    emitted = [i for kind, i in events if kind == EMIT]
    assert sorted(emitted) == list(range(100)) and emitted != list(range(100))
    # at most `buffer` read-but-unemitted items at any time
    pending = 0
    for kind, _ in events:
        pending += 1 if kind == READ else -1
        assert 0 <= pending <= 10
    assert events == list(shuffled(range(100), 10, random.Random(3)))
    assert [i for k, i in shuffled(range(5), 1, random.Random(0)) if k == EMIT] == list(range(5))
