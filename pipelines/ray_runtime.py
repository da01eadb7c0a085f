"""Starting or joining Ray, and applying operators as Ray Data stages."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

log = logging.getLogger(__name__)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address`, or start local Ray with `num_cpus` (all cores when None).

    Does nothing when Ray is already initialised in this process (tests start it once per session).
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    if address:
        ray.init(address=address, **kwargs)
    else:
        # "local": always a fresh local instance, even when `ray start` left a cluster running here
        # keep idle workers: Ray's default (as many as CPUs, killed after 1 s idle) restarts workers
        # between a build's stages and builds, and each restart re-imports PyMuPDF & co (~1.5 s CPU)
        cpus = num_cpus or os.cpu_count() or 1
        kwargs["_system_config"] = {"num_workers_soft_limit": 4 * cpus + 4}
        ray.init(address="local", num_cpus=num_cpus, **kwargs)
    log.info("ray resources: %s", ray.cluster_resources())


@dataclass
class Stage:
    """One operator applied as a Ray Data `map_batches` stage, with its resources declared here.

    `actors`: run in a pool of that many long-lived actors (for operators with an expensive setup such
    as OCR models); None runs stateless tasks that reuse one operator instance per worker process.
    `rows_per_block`: re-cut the stage's input into blocks of at most this many rows first (streaming),
    so that one task never gets more work than that, whatever size blocks the previous stage made.
    A build (`pipelines.build`) runs all its stages fused inside one task per shard
    (`pipelines.shard_task`); `map_stage` runs one stage on its own (the images fingerprint pass).
    """

    op: type
    config: Any = None
    num_cpus: float = 1.0
    batch_size: int = 4
    actors: int | None = None
    rows_per_block: int | None = None


_INSTANCES: dict[tuple[type, str], Any] = {}


def operator_instance(op: type, config: Any) -> Any:
    """One operator instance per worker process and configuration (models load once)."""
    k = (op, repr(config))
    if k not in _INSTANCES:
        _INSTANCES[k] = op(config)
    return _INSTANCES[k]


def run_stages(stages: list[Stage], rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows through every stage's operator in turn, lazily (operators are cached per process)."""
    for st in stages:
        rows = operator_instance(st.op, st.config).run_rows(rows)
    return iter(rows)


class _TaskFn:
    """A picklable stateless callable that applies a cached operator instance to a batch."""

    def __init__(self, op: type, config: Any) -> None:
        self.op, self.config = op, config

    def __call__(self, batch: pa.Table) -> pa.Table:
        return operator_instance(self.op, self.config)(batch)


class _ActorFn:
    """An actor's callable: one operator instance for the actor's lifetime."""

    def __init__(self, op: type, config: Any) -> None:
        self.instance = op(config)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.instance(batch)


def map_stage(ds: Any, stage: Stage) -> Any:
    """`ds.map_batches` for one stage, as tasks or as an actor pool."""
    from ray.data import ActorPoolStrategy

    if stage.rows_per_block:
        ds = ds.repartition(target_num_rows_per_block=stage.rows_per_block)
    common = dict(batch_size=stage.batch_size, batch_format="pyarrow", num_cpus=stage.num_cpus)
    if stage.actors:
        return ds.map_batches(
            _ActorFn,
            fn_constructor_kwargs={"op": stage.op, "config": stage.config},
            compute=ActorPoolStrategy(min_size=1, max_size=stage.actors),
            **common,
        )
    return ds.map_batches(_TaskFn(stage.op, stage.config), **common)
