"""Fewer shards than CPUs: a shard's inputs fan out to piece tasks while its own task stays the only writer.

A shard is one unit of work (`pipelines.shard_task`). A build with fewer pending shards than CPU slots
would leave CPUs idle, and a build of a few shards waits for its slowest one. `pieces_per_shard` says how
many contiguous pieces each shard's inputs are cut into so that the shards' pieces fill the CPU slots
(1, no fan-out, once the shards alone do). `Pieces` runs every piece as a Ray streaming-generator
task and yields their output rows to the shard's writer in input order.

- Bytes: operators work per input (images are deduplicated before the build), so the shard's tar, errors
  and stats do not depend on the cut (tested byte for byte against the golden builds).
- Traffic: rows go from a piece's worker to the shard's worker through Ray's object store, `BATCH` rows
  an object, never through the driver. Every piece runs to its end without waiting for the writer (a
  piece held back would hold its CPU idle): rows the writer has not reached yet wait in the object
  store, which Ray spills to local disk when it fills, so a worker's memory stays bounded.
- CPUs: the shard's task is blocked while it waits for rows, and Ray lends its CPU to the pieces.
- Figures: each piece returns what its operators did (`pipelines.stage_stats.shard_stages`) as its last
  item; the shard's summary row carries their sum.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.ray_runtime import Stage, operator_instance, run_stages
from pipelines.stage_stats import merge_stages, operators_of, shard_stages

#: rows per object a piece yields (an object per row cost the raylet ~2 ms each, more than the bytes)
BATCH = 16


def pieces_per_shard(shards: int, slots: float, inputs_per_shard: int) -> int:
    """Pieces per shard for `shards` pending shards on `slots` CPU slots (CPUs / CPUs per task): enough
    to fill the slots when the shards are fewer, else 1 (measured: cutting 2 shards on 2 CPUs into 4
    pieces was slower than not cutting, as the rows' trip through the object store costs more than the
    better balance gains)."""
    if shards <= 0 or shards >= slots:
        return 1
    return max(1, min(inputs_per_shard, math.ceil(slots / shards)))


def cut(rows: list[dict[str, Any]], pieces: int) -> list[list[dict[str, Any]]]:
    """`rows` in at most `pieces` contiguous runs whose lengths differ by at most one."""
    pieces = max(1, min(pieces, len(rows)))
    size, extra = divmod(len(rows), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (i < extra)
        out.append(rows[start:end])
        start = end
    return out


@dataclass
class PieceEnd:
    """The last item a piece yields: what its operators did (`shard_stages` JSON)."""

    stages: str


def run_piece(stages: list[Stage], rows: list[dict[str, Any]]) -> Iterator[Any]:
    """A piece task's body: the output rows of `rows` through every stage, then a `PieceEnd`."""
    ops = [o for st in stages for o in operators_of(operator_instance(st.op, st.config))]
    before = [o.tally() for o in ops]
    batch: list[dict[str, Any]] = []
    for row in run_stages(stages, rows):
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
    yield PieceEnd(shard_stages(ops, before))


class Pieces:
    """The output rows of one shard's input `rows` cut into `pieces` piece tasks, in input order;
    `stages` holds the summed figures once the rows are exhausted."""

    def __init__(self, stages: list[Stage], rows: list[dict[str, Any]], pieces: int) -> None:
        self.stage_list, self.parts = stages, cut(rows, pieces)
        self.stages = ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import ray

        task = ray.remote(run_piece).options(
            num_cpus=max(st.num_cpus for st in self.stage_list), num_returns="streaming")
        gens = [task.remote(self.stage_list, part) for part in self.parts]  # all start now, in parallel
        figures = []
        try:
            for gen in gens:
                for ref in gen:
                    item = ray.get(ref)
                    if isinstance(item, PieceEnd):
                        figures.append(item.stages)
                    else:
                        yield from item
        finally:
            if len(figures) < len(gens):  # the writer gave up: stop the pieces still running
                for gen in gens[len(figures):]:
                    with contextlib.suppress(Exception):  # already finished or gone: nothing to stop
                        ray.cancel(gen)
        self.stages = merge_stages(figures)
