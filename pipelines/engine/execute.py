"""The Ray side of a build: every Ray setting of `run_build` lives here.

`execute_shards` starts or joins Ray, sets the Ray Data budget (in-flight memory, no reservations, no
ordering), maps one `ShardTask` over one block of input rows per pending shard (cutting each shard into
piece tasks when shards are fewer than CPU slots: `pipelines.engine.pieces`), and yields the summary rows
(`pipelines.engine.shard_task.SUMMARY_SCHEMA`) back as batches, as the shards finish.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pyarrow as pa

from corpus.inputs import InputItem
from pipelines.engine.pieces import pieces_per_shard
from pipelines.engine.ray_runtime import init_ray
from pipelines.engine.run_config import RunConfig
from pipelines.engine.shard_task import ShardTask
from schemas.tables import INPUT_SCHEMA

log = logging.getLogger(__name__)


def input_rows(items: list[tuple[int, int, InputItem]]) -> pa.Table:
    """(shard id, position, input) triples as rows of `INPUT_SCHEMA`, what a shard task receives."""
    return pa.Table.from_pylist([it.row(sid, seq) for sid, seq, it in items], schema=INPUT_SCHEMA)


def shard_blocks(pending: list[tuple[int, int, InputItem]]) -> list[pa.Table]:
    """One block of input rows per shard: a shard is one task's work."""
    by_shard: dict[int, list] = {}
    for a in pending:
        by_shard.setdefault(a[0], []).append(a)
    return [input_rows(rows) for _, rows in sorted(by_shard.items())]


def execute_shards(pending: list[tuple[int, int, InputItem]], task: ShardTask, run: RunConfig) -> Iterator[pa.Table]:
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
    blocks = shard_blocks(pending)
    cpus_per_task = max(st.num_cpus for st in task.steps)
    slots = ray.cluster_resources().get("CPU", 1.0) / cpus_per_task
    task.pieces = pieces_per_shard(len(blocks), slots) if run.fan_out else 1
    if task.pieces > 1:
        log.info("%d shards for %.0f CPU slots: each shard's inputs fan out to %d piece tasks",
                 len(blocks), slots, task.pieces)
    ds = ray.data.from_arrow(blocks).map_batches(task, batch_size=None, batch_format="pyarrow", num_cpus=cpus_per_task)
    yield from ds.iter_batches(batch_format="pyarrow", batch_size=None)
