"""Fewer shards than CPUs: a shard's inputs fan out to piece tasks whose rows come back, in input order,
to the shard's one writer (`pipelines.shard_pieces`)."""
from __future__ import annotations

import json

import pytest

from operators.base import Chain
from pipelines.ray_runtime import Stage, run_stages
from pipelines.shard_pieces import Pieces, cut, pieces_per_shard
from tests.test_stage_stats import KeepEven, Pages, _rows


@pytest.mark.parametrize("shards, slots, inputs, pieces", [
    (1, 16, 64, 16),  # one shard on 16 CPUs: 16 pieces
    (3, 16, 64, 6),  # 3 shards: 6 pieces each fill the 16 slots
    (1, 16, 5, 5),  # never more pieces than inputs
    (2, 2, 16, 1),  # as many shards as slots: no fan-out (measured slower)
    (40, 16, 64, 1),
    (1, 1, 64, 1),
    (0, 4, 64, 1),
])
def test_pieces_fill_idle_slots_only(shards, slots, inputs, pieces):
    assert pieces_per_shard(shards, slots, inputs) == pieces


def test_cut_keeps_order_and_balances():
    rows = list(range(10))
    parts = cut(rows, 4)
    assert [len(p) for p in parts] == [3, 3, 2, 2] and sum(parts, []) == rows
    assert cut(rows[:2], 5) == [[0], [1]]


def test_pieces_yield_the_rows_and_figures_of_the_whole_shard(ray_session):
    stages = [Stage(Chain, [(Pages, None), (KeepEven, None)])]
    rows = _rows(["a", "bad-b", "c", "d", "e"])
    whole = list(run_stages(stages, rows))
    pieces = Pieces(stages, rows, 3)
    assert list(pieces) == whole  # same rows, same order (error rows included)
    figures = json.loads(pieces.stages)
    assert figures["Pages"][:2] == [5, 8] and figures["Pages"][3] == {"quarantine:OSError": 1, "quarantine:Timeout": 1}
    assert figures["KeepEven"][:2] == [8, 4] and figures["KeepEven"][3] == {"filtered:odd": 4}
