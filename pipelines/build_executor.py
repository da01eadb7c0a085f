"""The Ray side of a build: every Ray setting of `run_build` lives here.

`execute_shards` starts or joins Ray, sets the Ray Data budget (in-flight memory, no reservations, no
ordering), maps one `ShardTask` over one block of input rows per pending shard, and yields the summary
rows (`pipelines.shard_task.SUMMARY_SCHEMA`) back as batches, as the shards finish.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from corpus.inputs import InputItem
from pipelines.ray_runtime import init_ray
from pipelines.shard_task import ShardTask
from schemas.tables import INPUT_SCHEMA

if TYPE_CHECKING:
    from pipelines.build import RunConfig


def input_rows(items: list[tuple[int, int, InputItem]]) -> pa.Table:
    """(shard id, position, input) triples as rows of `INPUT_SCHEMA`, what a shard task receives."""
    return pa.Table.from_pylist(
        [
            dict(input_id=it.input_id, source=it.source, shard_id=sid, seq=seq, kind=it.kind,
                 meta_json=json.dumps(it.meta, sort_keys=True))
            for sid, seq, it in items
        ],
        schema=INPUT_SCHEMA,
    )


def shard_blocks(pending: list[tuple[int, int, InputItem]]) -> list[pa.Table]:
    """One block of input rows per shard: a shard is one task's work."""
    by_shard: dict[int, list] = {}
    for a in pending:
        by_shard.setdefault(a[0], []).append(a)
    return [input_rows(rows) for _, rows in sorted(by_shard.items())]


def execute_shards(pending: list[tuple[int, int, InputItem]], task: ShardTask, run: "RunConfig") -> Iterator[pa.Table]:
    """Run `task` over the shards of `pending` on Ray (local or at `run.address`); yields summary batches."""
    import ray.data

    init_ray(run.address, run.num_cpus)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = False
    ctx.enable_progress_bars = False
    ctx.op_resource_reservation_enabled = False  # one operator: reservations only throttle it
    ctx.execution_options.resource_limits = ctx.execution_options.resource_limits.copy(
        object_store_memory=run.max_rows_in_flight_mb * 1024 * 1024
    )
    ds = ray.data.from_arrow(shard_blocks(pending)).map_batches(
        task, batch_size=None, batch_format="pyarrow", num_cpus=max(st.num_cpus for st in task.stages))
    yield from ds.iter_batches(batch_format="pyarrow", batch_size=None)
