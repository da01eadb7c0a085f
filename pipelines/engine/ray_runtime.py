"""Starting or joining Ray, and applying one step on its own as a Ray Data stage."""
from __future__ import annotations

import logging
import os
from typing import Any

import pyarrow as pa

from pipelines.engine.steps import Step, operator_instance

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


class _TaskFn:
    """A picklable stateless callable that applies a cached operator instance to a batch."""

    def __init__(self, op: type, config: Any) -> None:
        self.op, self.config = op, config

    def __call__(self, batch: pa.Table) -> pa.Table:
        return operator_instance(self.op, self.config)(batch)


def map_step(ds: Any, step: Step, batch_size: int) -> Any:
    """`ds.map_batches` of one step on its own, as stateless tasks (the images fingerprint pass)."""
    return ds.map_batches(_TaskFn(step.op, step.config), batch_size=batch_size, batch_format="pyarrow",
                          num_cpus=step.num_cpus)
