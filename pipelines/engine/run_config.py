"""How a build runs, whatever its pipeline: where Ray is, shard size, the seed, resume and progress."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpus.config_types import AT_LEAST_ONE, bounded


@dataclass
class RunConfig:
    """How a build runs: where Ray is, shard size, seed, resume policy, progress."""

    # Ray cluster address; None joins the Ray that `ray start` runs on this machine, else starts local Ray
    # ("local": always a fresh local Ray)
    address: str | None = None
    num_cpus: int | None = bounded(None, AT_LEAST_ONE)  # CPUs for local Ray; None uses all cores
    inputs_per_shard: int = bounded(64, AT_LEAST_ONE)
    prefix: str | None = None  # shard file prefix; the pipeline name when None
    seed: int = 0  # the build's one seed: every operator's random choices derive from it
    progress: bool = True
    max_rows_in_flight_mb: int = bounded(512, AT_LEAST_ONE)  # Ray Data memory budget for in-flight blocks
    # with fewer pending shards than CPU slots, cut each shard's inputs into piece tasks that fill the
    # idle CPUs (`pipelines.engine.pieces`; the bytes written are the same either way)
    fan_out: bool = True
    # fsspec options of an object-store --out (e.g. endpoint_url, key, secret); the environment
    # (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) of each process applies too. Secrets are not recorded.
    storage_options: dict[str, Any] = field(default_factory=dict)
    break_lock: bool = False  # take over the lock a dead build left on another machine
