"""Starting and stopping the OCR actors of a docs build (`ocr.pool`).

Contract:
- `start_pool(pool, engine_config, task_cpus, fixed)` starts `pool.actors` actors (`pipelines.ocr_pool.actor`), each
  reserving `pool.num_cpus` CPUs and `pool.num_gpus` GPUs and restarted by Ray up to `pool.max_restarts`
  times (the calls it was serving are retried as often), waits until every one has loaded its models, and
  returns the `PooledOcrBackend` of the shard tasks. It raises `ConfigError` (one line, nothing built yet)
  when the actors' sessions do not run on the provider asked for (CUDA without onnxruntime-gpu or without
  a device), when an actor cannot start, or when they are not ready within `pool.start_timeout_s` (no node
  with the GPUs asked for), and then stops them. Before starting any, it refuses a pool that would leave
  a cluster that cannot grow (`fixed`: a local Ray) less than `task_cpus` CPUs for the shard tasks, which
  would wait forever; on a cluster it only warns (an autoscaler adds nodes).
- `stop_pools()` kills every actor this process started; the docs build calls it when it ends, however it
  ends, so a pool never outlives its build (a driver that stays up, such as the test suite's, would
  otherwise keep their CPUs and GPUs reserved).
Ray must be initialised (`pipelines.engine.ray_runtime.init_ray`).
"""
from __future__ import annotations

import logging
from typing import Any

from corpus.config_types import ConfigError
from operators.docs.ocr_engine import OcrEngineConfig
from operators.docs.ocr_pool_config import OcrPoolConfig
from operators.docs.ocr_providers import provider_problem
from pipelines.ocr_pool.actor import OcrActor
from pipelines.ocr_pool.backend import PooledOcrBackend

log = logging.getLogger(__name__)

_LIVE: list[Any] = []  # handles of the actors this process started and has not stopped


def start_pool(pool: OcrPoolConfig, engine_config: OcrEngineConfig, task_cpus: float, fixed: bool) -> PooledOcrBackend:
    """The pool's actors, started and ready; see the module docstring."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 0)
    if (left := cpus - pool.actors * pool.num_cpus) < task_cpus:
        short = (f"ocr.pool: {pool.actors} OCR actors of {pool.num_cpus:g} CPUs leave {max(left, 0):g} of the "
                 f"{cpus:g} CPUs, less than one shard task's {task_cpus:g}")
        if fixed:
            raise ConfigError(f"{short}: lower ocr.pool.actors or ocr.pool.num_cpus (a GPU actor needs little CPU), "
                              "or add CPUs")
        log.warning("%s; the build waits for the nodes an autoscaler adds", short)

    if pool.num_gpus and ray.cluster_resources().get("GPU", 0) < pool.num_gpus:
        log.warning("ocr.pool: the cluster has no GPU for actors of %g GPUs yet; waiting up to %.0f s for one "
                    "(an autoscaler adds a GPU node)", pool.num_gpus, pool.start_timeout_s)
    remote = ray.remote(OcrActor).options(num_cpus=pool.num_cpus, num_gpus=pool.num_gpus,
                                          max_restarts=pool.max_restarts, max_task_retries=pool.max_restarts)
    actors = [remote.remote(engine_config, pool.provider) for _ in range(pool.actors)]
    _LIVE.extend(actors)
    try:
        in_use = ray.get([a.ready.remote() for a in actors], timeout=pool.start_timeout_s)
    except ray.exceptions.GetTimeoutError:
        stop_pools()
        raise ConfigError(f"ocr.pool: {pool.actors} OCR actors of {pool.num_cpus:g} CPUs and {pool.num_gpus:g} GPUs "
                          f"were not ready within {pool.start_timeout_s:g} s (cluster: {ray.cluster_resources()}); "
                          "lower ocr.pool.num_gpus/num_cpus or add nodes") from None
    except ray.exceptions.RayError as e:
        stop_pools()
        reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
        raise ConfigError(f"ocr.pool: an OCR actor could not start: {reason}") from None
    for providers in in_use:
        if problem := provider_problem(pool.provider, providers):
            stop_pools()
            raise ConfigError(problem)
    log.info("ocr.pool: %d OCR actors ready on %s (%g CPUs, %g GPUs each)", len(actors), in_use[0][0],
             pool.num_cpus, pool.num_gpus)
    return PooledOcrBackend(actors)


def stop_pools() -> None:
    """Kill every OCR actor this process started (their reserved CPUs and GPUs are free again)."""
    import ray

    while _LIVE:
        ray.kill(_LIVE.pop(), no_restart=True)
