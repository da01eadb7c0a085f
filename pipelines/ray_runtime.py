"""Starting or joining Ray, and the stages (operators) a build runs inside its shard tasks."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

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
    """One operator of a build with its configuration and the CPUs its shard task reserves.

    A build (`pipelines.build`) runs all its stages fused inside one task per shard
    (`pipelines.shard_task`), rows passing from operator to operator in that task.
    """

    op: type
    config: Any = None
    num_cpus: float = 1.0
    batch_size: int = 4  # not read by the fused shard task; kept for the stages that still pass it


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
