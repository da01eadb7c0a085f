"""The generic corpus build: plan → execute → record, under the build lock.

Every pipeline (docs, images, videos) is a list of `Step`s over `InputItem`s handed to `run_build`.
Shard boundaries are a pure function of the sorted input ids and `inputs_per_shard`
(`pipelines.engine.plan`), so a rerun after a crash renumbers nothing: it skips completed shards (their
stats object exists), redoes the rest, and ends with the same keys. Each shard is one Ray task
(`pipelines.engine.execute`) that builds its samples and writes its tar, errors and stats to the
corpus `Store` (a folder or an object-store prefix, `pipelines.engine.shard_task`); the driver only
receives one summary row per shard, holds the build lock and writes the manifest
(`pipelines.engine.record`). Ray starts only when a shard is left to build.
The unfinished multipart uploads of the shards a run writes (left by killed tasks) are aborted when it
starts and ends.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.manifest import Manifest
from corpus.sink import SHARDS, completed_shards, prepare_dirs, shard_name
from corpus.storage import Store, is_storage_error, storage_error
from pipelines.engine.execute import execute_shards
from pipelines.engine.lock import BuildLock
from pipelines.engine.plan import ShardPlan, plan_shards, resume_manifest
from pipelines.engine.record import BuildRecorder, BuildSummary
from pipelines.engine.run_config import RunConfig
from pipelines.engine.shard_task import ShardTask
from pipelines.engine.steps import Step

log = logging.getLogger(__name__)


def run_build(
    *, pipeline: str, inputs: list[InputItem], steps: list[Step] | Callable[[Store], list[Step]],
    out_dir: "Store | str | Path", run: RunConfig, config_record: dict[str, Any] | None = None,
) -> BuildSummary:
    """Build (or resume) a corpus at `out_dir` (folder or object-store URL) from `inputs` through `steps`;
    see the module docstring. `steps` may be a function of the corpus store that makes them: it runs once
    the lock is held and only when a shard is left to build, so work it writes into the corpus (the dedup
    tables) never races another build of it."""
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
        return _run_locked(pipeline, plan, steps, store, run, config_record, manifest, run_id, started)
    except Exception as e:
        if not isinstance(e, UserError) and is_storage_error(e):
            raise storage_error(e, store.url, "writing the corpus at") from e
        raise
    finally:
        try:
            lock.release()
        except Exception as e:  # noqa: BLE001 - the build's own outcome matters more
            log.warning("could not remove the lock %s (%s): the next build must take it over", store.child(".lock"), e)


def _run_locked(pipeline: str, plan: ShardPlan, steps: list[Step] | Callable[[Store], list[Step]], store: Store,
                run: RunConfig, config_record: dict[str, Any] | None, manifest: Manifest, run_id: str, started: float) -> BuildSummary:
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
        if callable(steps):
            steps = steps(store)
        for batch in execute_shards(pending, ShardTask(steps, store, plan.prefix, pipeline), run):
            recorder.add(batch)
    if aborted := store.abort_uploads(SHARDS, rewrite):  # left by task attempts that died and were retried
        log.info("aborted %d unfinished uploads of killed task attempts", aborted)
    return recorder.finish(run_id, started, run, config_record)
