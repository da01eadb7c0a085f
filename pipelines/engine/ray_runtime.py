"""Starting local Ray, or joining a running instance or a cluster."""
from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def running_ray() -> str | None:
    """The address of the Ray instance that `ray start` left running on this machine, or None."""
    from ray._private.services import find_bootstrap_address, find_gcs_addresses

    address = find_bootstrap_address(None)  # written by `ray start`, never by a driver's own local Ray
    return address if address and address in find_gcs_addresses() else None


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address`; with none, join the Ray instance `ray start` runs on this machine
    (when it has `num_cpus` CPUs, or any number when None), else start a fresh local Ray with `num_cpus`
    (all cores when None); `address="local"` always starts a fresh one.

    Does nothing when Ray is already initialised in this process (tests start it once per session).
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=True)
    if address and address != "local":
        ray.init(address=address, **kwargs)
        log.info("ray resources: %s", ray.cluster_resources())
        return
    found = None if address == "local" else running_ray()
    if found and _joined(found, num_cpus, kwargs):
        return
    # keep idle workers: Ray's default (as many as CPUs, killed after 1 s idle) restarts workers
    # between a build's stages and builds, and each restart re-imports PyMuPDF & co (~1.5 s CPU)
    cpus = num_cpus or os.cpu_count() or 1
    kwargs["_system_config"] = {"num_workers_soft_limit": 4 * cpus + 4}
    ray.init(address="local", num_cpus=num_cpus, **kwargs)
    log.info("ray resources: %s", ray.cluster_resources())


def _joined(address: str, num_cpus: int | None, kwargs: dict[str, Any]) -> bool:
    """Join the running instance at `address` when it fits `num_cpus`; False (disconnected) otherwise."""
    import ray

    try:
        ray.init(address=address, **kwargs)
    except Exception as e:  # noqa: BLE001 - a cluster we may not join (another user's, token auth): start our own
        log.info("not joining the Ray instance at %s (%s): starting a fresh local one", address, e)
        return False
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if num_cpus is None or cpus == num_cpus:
        log.info("joined the Ray instance running here at %s (%d CPUs; --address local starts a fresh one)",
                 address, cpus)
        return True
    ray.shutdown()
    log.info("the Ray instance running here has %d CPUs, not --num-cpus %d: starting a fresh local one", cpus, num_cpus)
    return False
