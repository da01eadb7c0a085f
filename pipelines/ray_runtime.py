"""Starting or joining Ray, and applying operators as Ray Data stages."""
from __future__ import annotations

import logging
import os
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
        ray.init(address="local", num_cpus=num_cpus, **kwargs)
    log.info("ray resources: %s", ray.cluster_resources())


@dataclass
class Stage:
    """One operator applied as a Ray Data `map_batches` stage, with its resources declared here.

    `actors`: run in a pool of that many long-lived actors (for operators with an expensive setup such
    as OCR models); None runs stateless tasks that reuse one operator instance per worker process.
    """

    op: type
    config: Any = None
    num_cpus: float = 1.0
    batch_size: int = 4
    actors: int | None = None


_INSTANCES: dict[tuple[type, str], Any] = {}


def _instance(op: type, config: Any) -> Any:
    """One operator instance per worker process and configuration (models load once)."""
    k = (op, repr(config))
    if k not in _INSTANCES:
        _INSTANCES[k] = op(config)
    return _INSTANCES[k]


class _TaskFn:
    """A picklable stateless callable that applies a cached operator instance to a batch."""

    def __init__(self, op: type, config: Any) -> None:
        self.op, self.config = op, config

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _instance(self.op, self.config)(batch)


def apply_stage(ds: Any, stage: Stage) -> Any:
    """`ds.map_batches` for one stage, as tasks or as an actor pool."""
    from ray.data import ActorPoolStrategy

    common = dict(batch_size=stage.batch_size, batch_format="pyarrow", num_cpus=stage.num_cpus)
    if stage.actors:
        return ds.map_batches(
            stage.op,
            fn_constructor_kwargs={"config": stage.config},
            compute=ActorPoolStrategy(min_size=1, max_size=stage.actors),
            **common,
        )
    return ds.map_batches(_TaskFn(stage.op, stage.config), **common)
