"""The generic corpus build: plan → execute → record, under the build lock.

Every pipeline (docs, images, videos) is a list of `Stage`s over `InputItem`s handed to `run_build`.
Shard boundaries are a pure function of the sorted input ids and `inputs_per_shard`
(`pipelines.build_plan`), so a rerun after a crash renumbers nothing: it skips completed shards (their
stats object exists), redoes the rest, and ends with the same keys. Each shard is one Ray task
(`pipelines.build_executor`) that builds its samples and writes its tar, errors and stats to the
corpus `Store` (a folder or an object-store prefix, `pipelines.shard_task`); the driver only receives
one summary row per shard, holds the build lock and writes the manifest (`pipelines.build_record`).
The unfinished multipart uploads of the shards a run writes (left by killed tasks) are aborted when it
starts and ends.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.config_types import AT_LEAST_ONE, bounded
from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.manifest import Manifest
from corpus.sink import SHARDS, completed_shards, prepare_dirs, shard_name
from corpus.storage import Store, is_storage_error, storage_error
from pipelines.build_executor import execute_shards
from pipelines.build_lock import BuildLock
from pipelines.build_plan import ShardPlan, plan_shards, resume_manifest
from pipelines.build_record import BuildRecorder, BuildSummary
from pipelines.ray_runtime import Stage
from pipelines.shard_task import ShardTask

log = logging.getLogger(__name__)

__all__ = ["BuildSummary", "RunConfig", "run_build"]


@dataclass
class RunConfig:
    """How a build runs: where Ray is, shard size, seed, resume policy, progress."""

    address: str | None = None  # Ray cluster address; None starts local Ray
    num_cpus: int | None = bounded(None, AT_LEAST_ONE)  # CPUs for local Ray; None uses all cores
    inputs_per_shard: int = bounded(64, AT_LEAST_ONE)
    prefix: str | None = None  # shard file prefix; the pipeline name when None
    seed: int = 0  # the build's one seed: every operator's random choices derive from it
    progress: bool = True
    max_rows_in_flight_mb: int = bounded(512, AT_LEAST_ONE)  # Ray Data memory budget for in-flight blocks
    # with fewer pending shards than CPU slots, cut each shard's inputs into piece tasks that fill the
    # idle CPUs (`pipelines.shard_pieces`; the bytes written are the same either way)
    fan_out: bool = True
    # fsspec options of an object-store --out (e.g. endpoint_url, key, secret); the environment
    # (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) of each process applies too. Secrets are not recorded.
    storage_options: dict[str, Any] = field(default_factory=dict)
    break_lock: bool = False  # take over the lock a dead build left on another machine


def run_build(
    *, pipeline: str, inputs: list[InputItem], stages: list[Stage] | Callable[[], list[Stage]],
    out_dir: "Store | str | Path", run: RunConfig, config_record: dict[str, Any] | None = None,
) -> BuildSummary:
    """Build (or resume) a corpus at `out_dir` (folder or object-store URL) from `inputs` through `stages`;
    see the module docstring. `stages` may be a function that makes them: it runs once the lock is held,
    so work it writes into the corpus (the images' dedup tables) never races another build of it."""
    started = time.time()
    store = Store.of(out_dir, run.storage_options)
    prefix = run.prefix or pipeline
    plan = plan_shards(inputs, run.inputs_per_shard, prefix)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    lock = BuildLock(store, run_id)
    try:
        manifest = resume_manifest(Manifest.load(store), pipeline, plan, store.url)
        lock.acquire(run.break_lock)
    except Exception as e:
        if is_storage_error(e):
            raise storage_error(e, store.url, "opening the corpus at") from e
        raise
    try:
        if callable(stages):
            stages = stages()
        return _run_locked(pipeline, plan, stages, store, run, config_record, manifest, run_id, started)
    except Exception as e:
        if not isinstance(e, UserError) and is_storage_error(e):
            raise storage_error(e, store.url, "writing the corpus at") from e
        raise
    finally:
        try:
            lock.release()
        except Exception as e:  # noqa: BLE001 - the build's own outcome matters more
            log.warning("could not remove the lock %s (%s): the next build must take it over", store.child(".lock"), e)


def _run_locked(pipeline: str, plan: ShardPlan, stages: list[Stage], store: Store, run: RunConfig,
                config_record: dict[str, Any] | None, manifest: Manifest, run_id: str, started: float) -> BuildSummary:
    """Plan the resume, execute the pending shards and record them; the caller holds the lock."""
    for stale in prepare_dirs(store):
        log.info("removed a partial file of an interrupted run: %s", stale)
    plan = plan.resumed(completed_shards(store, plan.prefix), manifest.shards)
    recorder = BuildRecorder(manifest, store, plan, pipeline, run.progress)
    recorder.recover()
    pending = recorder.pending
    log.info("%s: %d inputs, %d in completed shards, %d to do", pipeline, len(plan.inputs),
             len(plan.inputs) - len(pending), len(pending))
    rewrite = {f"{shard_name(plan.prefix, sid)}.tar" for sid in plan.pending_shards}
    if aborted := store.abort_uploads(SHARDS, rewrite):  # a killed task's upload: never completed
        log.info("aborted %d unfinished uploads of shards this run writes again", aborted)
    if run.address and store.local:
        log.warning("--out %s is a local path on a cluster: every node writes its shards there, so it must be "
                    "a file system all nodes mount; use an object-store URL (s3://...) otherwise", store.url)
    if pending:
        for batch in execute_shards(pending, ShardTask(stages, store, plan.prefix, pipeline), run):
            recorder.add(batch)
    if aborted := store.abort_uploads(SHARDS, rewrite):  # left by task attempts that died and were retried
        log.info("aborted %d unfinished uploads of killed task attempts", aborted)
    return recorder.finish(run_id, started, run, config_record)
