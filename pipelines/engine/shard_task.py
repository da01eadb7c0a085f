"""A shard is one unit of work: the task that builds its samples writes its tar, errors and stats.

`ShardTask` is the Ray Data callable of a build. It receives the input rows of one shard (a block per
shard, cut by `pipelines.engine.run`), runs them through every stage's operator lazily, one row at a time
(memory per task: the rows in flight, never the shard), streams each sample into a `ShardWriter` over
the corpus `Store` (a local folder or an object-store prefix), and returns one small summary row per
shard with what each operator did to it (`pipelines.engine.operator_stats`). So the driver receives only those
rows; sample bytes go from the worker straight to the store.
A store failure comes back as the row's `error` (the driver raises it as a UserError).
Parallelism comes from many shards in flight, as many tasks as CPUs; with fewer shards than that, each
shard's inputs fan out to piece tasks whose rows come back to the shard's writer (`pipelines.engine.pieces`).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from corpus.errors import UserError
from corpus.sink import ShardResult, ShardWriter
from corpus.storage import Store, is_storage_error, storage_error
from pipelines.engine.operator_stats import OperatorTally
from pipelines.engine.pieces import Pieces
from pipelines.engine.steps import Step, run_steps

#: What a shard task returns to the driver: one row per shard.
SUMMARY_SCHEMA = pa.schema([
    ("shard_id", pa.int64()), ("name", pa.string()), ("samples", pa.int64()), ("errors", pa.int64()),
    ("bytes", pa.int64()), ("input_ids", pa.list_(pa.string())),
    ("error", pa.string()),  # set when the store failed: what to tell the user (the shard is not complete)
    ("stages", pa.string()),  # per-operator figures of this shard (`pipelines.engine.operator_stats.shard_stages`)
])


def write_shard(rows: Iterable[dict[str, Any]], shard_id: int, store: Store, prefix: str, pipeline: str) -> ShardResult:
    """Write shard `shard_id` from its output `rows` (run lazily); on any failure nothing of it looks complete."""
    writer = ShardWriter(store, prefix, shard_id, pipeline)
    try:
        for row in rows:
            writer.add(row)
        return writer.close()
    except BaseException as e:
        writer.abort(e)
        if is_storage_error(e):
            raise storage_error(e, store.child(), f"writing shard {writer.name} to") from e
        raise


class ShardTask:
    """A picklable `map_batches` callable: input rows of whole shards in, one summary row per shard out."""

    def __init__(self, steps: list[Step], store: Store, prefix: str, pipeline: str) -> None:
        self.steps, self.store, self.prefix, self.pipeline = steps, store, prefix, pipeline
        # > 1: each shard's work fans out to that many piece tasks (`pipelines.engine.pieces`); set by
        # `execute_shards` once the cluster's CPUs are known
        self.pieces = 1

    def _shard(self, sid: int, rows: list[dict[str, Any]]) -> tuple[ShardResult, str]:
        """Build and write one shard: (its result, what each operator did to it as `shard_stages` JSON)."""
        rows = sorted(rows, key=lambda x: x["seq"])
        if self.pieces > 1:
            pieces = Pieces(self.steps, rows, self.pieces)
            return write_shard(pieces, sid, self.store, self.prefix, self.pipeline), pieces.stages
        tally = OperatorTally(self.steps)
        r = write_shard(run_steps(self.steps, rows), sid, self.store, self.prefix, self.pipeline)
        return r, tally.json()

    def __call__(self, batch: pa.Table) -> pa.Table:
        shards: dict[int, list[dict[str, Any]]] = {}
        for row in batch.to_pylist():
            shards.setdefault(int(row["shard_id"]), []).append(row)
        out = []
        for sid, rows in shards.items():
            try:
                r, stages = self._shard(sid, rows)
            except UserError as e:  # returned, not raised: Ray would wrap it beyond recognition
                out.append(dict(shard_id=sid, name="", samples=0, errors=0, bytes=0, input_ids=[], error=str(e)))
                continue
            out.append(dict(shard_id=r.shard_id, name=r.name, samples=r.samples, errors=r.errors, bytes=r.bytes,
                            input_ids=r.input_ids, error=None, stages=stages))
        return pa.Table.from_pylist(out, schema=SUMMARY_SCHEMA)
