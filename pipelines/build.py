"""The generic corpus build: inputs → shard assignment → one Ray task per shard → shards in the store.

Every pipeline (docs, images, videos) is a list of `Stage`s over `InputItem`s handed to `run_build`.
Shard boundaries are a pure function of the sorted input ids and `inputs_per_shard`, so a rerun after a
crash renumbers nothing: it skips completed shards (their stats object exists), redoes the rest, and
ends with the same keys. Each shard is one task that builds its samples and writes its tar, errors and
stats to the corpus `Store` (a folder or an object-store prefix, `pipelines.shard_task`); the driver
only receives one summary row per shard, holds the build lock and writes the manifest. The unfinished
multipart uploads of the shards a run writes (left by killed tasks) are aborted when it starts and ends.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipelines.build_lock import BuildLock
from pipelines.errors import UserError
from pipelines.manifest import Manifest, assignment_digest
from pipelines.ray_runtime import Stage, init_ray
from pipelines.shard_task import ShardTask
from pipelines.sink import ERRORS, SHARDS, STATS, completed_shards, prepare_dirs, shard_name
from pipelines.storage import Store, is_storage_error, redact, storage_error
from schemas.tables import INPUT_SCHEMA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputItem:
    """One unit of input: a document, a page image, an image or a video; `meta` is JSON-serialisable."""

    input_id: str
    source: str
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """How a build runs: where Ray is, shard size, seed, resume policy, progress."""

    address: str | None = None  # Ray cluster address; None starts local Ray
    num_cpus: int | None = None  # CPUs for local Ray; None uses all cores
    inputs_per_shard: int = 64
    prefix: str | None = None  # shard file prefix; the pipeline name when None
    seed: int = 0
    progress: bool = True
    max_rows_in_flight_mb: int = 512  # Ray Data memory budget for in-flight blocks
    # fsspec options of an object-store --out (e.g. endpoint_url, key, secret); the environment
    # (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) of each process applies too. Secrets are not recorded.
    storage_options: dict[str, Any] = field(default_factory=dict)
    break_lock: bool = False  # take over the lock a dead build left on another machine


@dataclass
class BuildSummary:
    """Counts of one build: what went in, what came out, what was skipped as already done."""

    out_dir: str
    pipeline: str
    run_id: str
    inputs: int
    inputs_skipped: int  # in shards completed by an earlier run
    shards_written: int
    samples: int
    errors: int
    lost_inputs: list[str]
    seconds: float
    totals: dict[str, int]
    driver_bytes: int = 0  # bytes of the result blocks the driver received (one summary row per shard)

    @property
    def ok(self) -> bool:
        """True when every input of this run ended in a sample or an error row."""
        return not self.lost_inputs


def _input_rows(items: list[tuple[int, int, InputItem]]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            dict(input_id=it.input_id, source=it.source, shard_id=sid, seq=seq, kind=it.kind,
                 meta_json=json.dumps(it.meta, sort_keys=True))
            for sid, seq, it in items
        ],
        schema=INPUT_SCHEMA,
    )


def _check_resume(store: Store, pipeline: str, prefix: str, digest: str, per_shard: int, n: int) -> Manifest:
    m = Manifest.load(store)
    if m is None:
        return Manifest(pipeline=pipeline, prefix=prefix, assignment=digest, inputs_per_shard=per_shard, n_inputs=n)
    if m.pipeline != pipeline or m.prefix != prefix:
        raise UserError(
            f"{store.url} holds a '{m.pipeline}' corpus (prefix '{m.prefix}'); build '{pipeline}' into another --out."
        )
    if m.assignment != digest:
        raise UserError(
            f"{store.url} was started with different inputs or shard size; resuming would renumber shards. "
            "Use the same inputs and --inputs-per-shard, or a new --out."
        )
    return m


def _entry(res: dict[str, Any]) -> dict[str, Any]:
    return {"shard_id": res["shard_id"], "tar": f"{res['name']}.tar" if res["samples"] else None,
            "samples": res["samples"], "errors": res["errors"], "bytes": res["bytes"], "inputs": len(res["input_ids"])}


def _recover_entries(manifest: Manifest, store: Store, prefix: str, done: set[int], inputs: list[InputItem],
                     per_shard: int) -> None:
    """Manifest entries for shards completed by a run that died before recording them."""
    for sid in sorted(done):
        name = shard_name(prefix, sid)
        if name in manifest.shards:
            continue
        with store.fs.open(store.path(STATS, f"{name}.parquet"), "rb") as f:
            samples = pq.read_metadata(f).num_rows
        with store.fs.open(store.path(ERRORS, f"{name}.parquet"), "rb") as f:
            errors = pq.read_metadata(f).num_rows
        nbytes = store.size(f"{SHARDS}/{name}.tar") if samples else 0
        ids = [it.input_id for it in inputs[sid * per_shard:(sid + 1) * per_shard]]
        manifest.shards[name] = _entry(dict(shard_id=sid, name=name, samples=samples, errors=errors, bytes=nbytes,
                                            input_ids=ids))
        log.info("recorded %s, completed by an earlier run", name)


def _shard_blocks(pending: list[tuple[int, int, InputItem]]) -> list[pa.Table]:
    """One block of input rows per shard: a shard is one task's work."""
    by_shard: dict[int, list] = {}
    for a in pending:
        by_shard.setdefault(a[0], []).append(a)
    return [_input_rows(rows) for _, rows in sorted(by_shard.items())]


def run_build(
    *, pipeline: str, inputs: list[InputItem], stages: list[Stage], out_dir: "Store | str | Path", run: RunConfig,
    config_record: dict[str, Any] | None = None,
) -> BuildSummary:
    """Build (or resume) a corpus at `out_dir` (folder or object-store URL) from `inputs` through `stages`;
    see the module docstring."""
    started = time.time()
    store = Store.of(out_dir, run.storage_options)
    prefix = run.prefix or pipeline
    ids = [i.input_id for i in inputs]
    if len(set(ids)) != len(ids):
        raise ValueError("input ids must be unique; the same file was given twice")
    inputs = sorted(inputs, key=lambda i: i.input_id)
    digest = assignment_digest([i.input_id for i in inputs], run.inputs_per_shard)
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    lock = BuildLock(store, run_id)
    try:
        manifest = _check_resume(store, pipeline, prefix, digest, run.inputs_per_shard, len(inputs))
        lock.acquire(run.break_lock)
    except Exception as e:
        if is_storage_error(e):
            raise storage_error(e, store.url, "opening the corpus at") from e
        raise
    try:
        return _run_locked(pipeline, inputs, stages, store, run, config_record, manifest, prefix, run_id, started)
    except Exception as e:
        if not isinstance(e, UserError) and is_storage_error(e):
            raise storage_error(e, store.url, "writing the corpus at") from e
        raise
    finally:
        try:
            lock.release()
        except Exception as e:  # noqa: BLE001 - the build's own outcome matters more
            log.warning("could not remove the lock %s (%s): the next build must take it over", store.child(".lock"), e)


def _run_locked(pipeline: str, inputs: list[InputItem], stages: list[Stage], store: Store, run: RunConfig,
                config_record: dict[str, Any] | None, manifest: Manifest, prefix: str, run_id: str,
                started: float) -> BuildSummary:
    import ray.data

    for stale in prepare_dirs(store):
        log.info("removed a partial file of an interrupted run: %s", stale)
    done = completed_shards(store, prefix)
    assigned = [(seq // run.inputs_per_shard, seq, it) for seq, it in enumerate(inputs)]
    _recover_entries(manifest, store, prefix, done, inputs, run.inputs_per_shard)
    pending = [a for a in assigned if a[0] not in done]
    rewrite = {f"{shard_name(prefix, sid)}.tar" for sid in {a[0] for a in pending}}
    if aborted := store.abort_uploads(SHARDS, rewrite):  # a killed task's upload: never completed
        log.info("aborted %d unfinished uploads of shards this run writes again", aborted)
    log.info("%s: %d inputs, %d in completed shards, %d to do", pipeline, len(inputs), len(inputs) - len(pending), len(pending))
    if run.address and store.local:
        log.warning("--out %s is a local path on a cluster: every node writes its shards there, so it must be "
                    "a file system all nodes mount; use an object-store URL (s3://...) otherwise", store.url)

    seen: set[str] = set()
    counts = {"shards": 0, "samples": 0, "errors": 0, "driver_bytes": 0}
    bar = tqdm(total=len(pending), unit="input", desc=f"{pipeline} build", disable=not run.progress)
    last_save = 0.0
    if pending:
        init_ray(run.address, run.num_cpus)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = False
        ctx.enable_progress_bars = False
        ctx.op_resource_reservation_enabled = False  # one operator: reservations only throttle it
        ctx.execution_options.resource_limits = ctx.execution_options.resource_limits.copy(
            object_store_memory=run.max_rows_in_flight_mb * 1024 * 1024
        )
        task = ShardTask(stages, store, prefix, pipeline, run_id)
        ds = ray.data.from_arrow(_shard_blocks(pending)).map_batches(
            task, batch_size=None, batch_format="pyarrow", num_cpus=max(st.num_cpus for st in stages))
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            counts["driver_bytes"] += batch.nbytes
            for res in batch.to_pylist():
                if res["error"]:
                    raise UserError(res["error"])
                manifest.shards[res["name"]] = _entry(res)
                seen.update(res["input_ids"])
                counts["shards"] += 1
                counts["samples"] += res["samples"]
                counts["errors"] += res["errors"]
                bar.update(len(res["input_ids"]))
                bar.set_postfix(samples=counts["samples"], errors=counts["errors"], shards=counts["shards"])
            if time.time() - last_save > 1.0:  # resume trusts the stats objects, not this record
                manifest.save(store)
                last_save = time.time()
    bar.close()
    if aborted := store.abort_uploads(SHARDS, rewrite):  # left by task attempts that died and were retried
        log.info("aborted %d unfinished uploads of killed task attempts", aborted)
    lost = sorted({it.input_id for _, _, it in pending} - seen)
    if lost:
        log.error("%d inputs produced neither a sample nor an error row: %s", len(lost), lost[:10])
    summary = BuildSummary(
        out_dir=store.url, pipeline=pipeline, run_id=run_id, inputs=len(inputs),
        inputs_skipped=len(inputs) - len(pending), shards_written=counts["shards"], samples=counts["samples"],
        errors=counts["errors"], lost_inputs=lost, seconds=round(time.time() - started, 3), totals=manifest.totals(),
        driver_bytes=counts["driver_bytes"],
    )
    record = asdict(run)
    record["storage_options"] = redact(run.storage_options)
    config = json.loads(json.dumps(config_record or {}))
    if isinstance(config.get("run"), dict):
        config["run"]["storage_options"] = redact(config["run"].get("storage_options") or {})
    manifest.runs.append({"run_id": run_id, "started": started, "seconds": summary.seconds,
                          "run": record, "config": config,
                          "counts": {k: v for k, v in asdict(summary).items() if k not in ("totals", "lost_inputs")},
                          "lost_inputs": lost, "shard_names": [shard_name(prefix, s) for s in sorted({a[0] for a in pending})]})
    manifest.save(store)
    return summary
