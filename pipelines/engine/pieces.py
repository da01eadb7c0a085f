"""Fewer shards than CPUs: a shard's inputs fan out to piece tasks while its own task stays the only writer.

A shard is one unit of work (`pipelines.engine.shard_task`). A build with fewer pending shards than CPU slots
would leave CPUs idle, and a build of a few shards waits for its slowest one. `pieces_per_shard` says how
many contiguous pieces each shard's inputs are cut into so that the shards' pieces fill the CPU slots
(1, no fan-out, once the shards alone do). `Pieces` runs every piece as a Ray streaming-generator
task and yields their output rows to the shard's writer in input order. The cut falls between units of
work: the page ranges a docs chain's first operator splits PDFs into (`split_head`), else the inputs.

- Bytes: operators work per input (images are deduplicated before the build), so the shard's tar, errors
  and stats do not depend on the cut (tested byte for byte against the golden builds).
- Traffic: rows go from a piece's worker to the shard's worker through Ray's object store, `BATCH` rows
  an object, never through the driver. Every piece runs to its end without waiting for the writer (a
  piece held back would hold its CPU idle): rows the writer has not reached yet wait in the object
  store, which Ray spills to local disk when it fills, so a worker's memory stays bounded.
- CPUs: the shard's task is blocked while it waits for rows, and Ray lends its CPU to the pieces.
- Figures: each piece returns what its operators did (`pipelines.engine.operator_stats.shard_stages`) as its last
  item; the shard's summary row carries their sum.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from operators.base import Chain, columns_after
from pipelines.engine.operator_stats import OperatorTally, merge_stages
from pipelines.engine.steps import Step, run_steps

#: rows per object a piece yields (an object per row cost the raylet ~2 ms each, more than the bytes)
BATCH = 16


def pieces_per_shard(shards: int, slots: float) -> int:
    """Pieces per shard for `shards` pending shards on `slots` CPU slots (CPUs / CPUs per task): enough
    to fill the slots when the shards are fewer, else 1 (measured: cutting 2 shards on 2 CPUs into 4
    pieces was slower than not cutting, as the rows' trip through the object store costs more than the
    better balance gains). A shard with fewer units of work than that makes fewer pieces (`cut`)."""
    if shards <= 0 or shards >= slots:
        return 1
    return math.ceil(slots / shards)


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


@dataclass(frozen=True)
class TailConfig:
    """The links of a `Chain` after its work-splitting operators, and the columns of the rows they get."""

    links: tuple[tuple[type, Any], ...]
    input_columns: tuple[str, ...]


class TailChain(Chain):
    """The part of a `Chain` that the pieces run, over the units its leading operators split off."""

    def __init__(self, config: TailConfig) -> None:
        super().__init__(config.links, config.input_columns)


def split_head(steps: list[Step]) -> tuple[list[Step], list[Step]]:
    """(steps the shard's task runs first, steps the pieces run): a `Chain`'s leading operators that
    split inputs into independent units (`splits_work`: a PDF into page ranges) run once in the shard's
    task, so pieces are cut between units (one 2,000-page PDF still fills every CPU), not only inputs."""
    if len(steps) != 1 or steps[0].op is not Chain:
        return [], steps
    links = tuple(steps[0].config)
    k = 0
    while k < len(links) - 1 and links[k][0].splits_work:
        k += 1
    if not k:
        return [], steps
    tail = TailConfig(links[k:], tuple(columns_after([op for op, _ in links[:k]])))
    return [replace(steps[0], config=links[:k])], [replace(steps[0], op=TailChain, config=tail)]


@dataclass
class PieceEnd:
    """The last item a piece yields: what its operators did (`shard_stages` JSON)."""

    stages: str


def run_piece(steps: list[Step], rows: list[dict[str, Any]]) -> Iterator[Any]:
    """A piece task's body: the output rows of `rows` through every stage, then a `PieceEnd`."""
    tally = OperatorTally(steps)
    batch: list[dict[str, Any]] = []
    for row in run_steps(steps, rows):
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
    yield PieceEnd(tally.json())


class Pieces:
    """The output rows of one shard's input `rows` cut into `pieces` piece tasks, in input order;
    `stages` holds the summed figures once the rows are exhausted."""

    def __init__(self, steps: list[Step], rows: list[dict[str, Any]], pieces: int) -> None:
        self.head, self.tail = split_head(steps)
        self.rows, self.pieces = rows, pieces
        self.stages = ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import ray

        head = OperatorTally(self.head)
        units = list(run_steps(self.head, self.rows))  # page ranges: small rows, no pixels yet
        figures = [head.json()]
        task = ray.remote(run_piece).options(num_cpus=max(st.num_cpus for st in self.tail), num_returns="streaming")
        gens = [task.remote(self.tail, part) for part in cut(units, self.pieces)]  # all start now, in parallel
        finished = 0
        try:
            for gen in gens:
                for ref in gen:
                    item = ray.get(ref)
                    if isinstance(item, PieceEnd):
                        figures.append(item.stages)
                        finished += 1
                    else:
                        yield from item
        finally:
            for gen in gens[finished:]:  # the writer gave up: stop the pieces still running
                with contextlib.suppress(Exception):  # already finished or gone: nothing to stop
                    ray.cancel(gen)
        self.stages = merge_stages(figures)
