"""The generic corpus build: inputs → shard assignment → Ray Data stages → the shard sink.

Every pipeline (docs, images, videos) is a list of `Stage`s over `InputItem`s handed to `run_build`.
Shard boundaries are a pure function of the sorted input ids and `inputs_per_shard`, so a rerun after a
crash renumbers nothing: it skips completed shards, redoes the rest, and ends with the same keys.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
from tqdm import tqdm

from pipelines.errors import UserError
from pipelines.manifest import Manifest, assignment_digest
from pipelines.ray_runtime import Stage, apply_stage, init_ray
from pipelines.sink import ShardResult, completed_shards, prepare_dirs, shard_name, write_stream
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
    # who writes sample bytes: "workers" (tasks write part files under --out, which every node must
    # mount; the driver splices them into shards), "driver" (bytes travel to the driver, which writes
    # them), "auto" (workers on local Ray, driver on a cluster)
    sink: str = "auto"


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


def _check_resume(out_dir: Path, pipeline: str, prefix: str, digest: str, per_shard: int, n: int) -> Manifest:
    m = Manifest.load(out_dir)
    if m is None:
        return Manifest(pipeline=pipeline, prefix=prefix, assignment=digest, inputs_per_shard=per_shard, n_inputs=n)
    if m.pipeline != pipeline or m.prefix != prefix:
        raise UserError(
            f"{out_dir} holds a '{m.pipeline}' corpus (prefix '{m.prefix}'); build '{pipeline}' into another --out folder."
        )
    if m.assignment != digest:
        raise UserError(
            f"{out_dir} was started with different inputs or shard size; resuming would renumber shards. "
            "Use the same inputs and --inputs-per-shard, or a new --out folder."
        )
    return m


def _workers_write(run: RunConfig) -> bool:
    if run.sink not in ("auto", "workers", "driver"):
        raise UserError(f"run.sink must be auto, workers or driver, not {run.sink!r}")
    return run.sink == "workers" or (run.sink == "auto" and not run.address)


def run_build(
    *, pipeline: str, inputs: list[InputItem], stages: list[Stage], out_dir: Path, run: RunConfig,
    config_record: dict[str, Any] | None = None, prepare: Callable[[pa.Table], pa.Table] | None = None,
) -> BuildSummary:
    """Build (or resume) a corpus in `out_dir` from `inputs` through `stages`; see the module docstring.

    `prepare` runs in the driver on the pending input rows before the Ray stages: a cheap expansion
    (page ranges of local PDFs) that lets the first Ray stage start at once."""
    import ray.data

    started = time.time()
    out_dir = Path(out_dir)
    prefix = run.prefix or pipeline
    ids = [i.input_id for i in inputs]
    if len(set(ids)) != len(ids):
        raise ValueError("input ids must be unique; the same file was given twice")
    inputs = sorted(inputs, key=lambda i: i.input_id)
    digest = assignment_digest([i.input_id for i in inputs], run.inputs_per_shard)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = _check_resume(out_dir, pipeline, prefix, digest, run.inputs_per_shard, len(inputs))
    prepare_dirs(out_dir)
    done = completed_shards(out_dir, prefix)
    assigned = [(seq // run.inputs_per_shard, seq, it) for seq, it in enumerate(inputs)]
    pending = [a for a in assigned if a[0] not in done]
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    log.info("%s: %d inputs, %d in completed shards, %d to do", pipeline, len(inputs), len(inputs) - len(pending), len(pending))

    seen: set[str] = set()
    counts = {"shards": 0, "samples": 0, "errors": 0}
    bar = tqdm(total=len(pending), unit="input", desc=f"{pipeline} build", disable=not run.progress)

    def on_shard(res: ShardResult) -> None:
        manifest.shards[res.name] = {"shard_id": res.shard_id, "tar": f"{res.name}.tar" if res.samples else None,
                                     "samples": res.samples, "errors": res.errors, "bytes": res.bytes,
                                     "inputs": len(res.input_ids)}
        manifest.save(out_dir)
        counts["shards"] += 1
        counts["samples"] += res.samples
        counts["errors"] += res.errors
        bar.set_postfix(samples=counts["samples"], errors=counts["errors"], shards=counts["shards"])

    if pending:
        init_ray(run.address, run.num_cpus)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        # Ray Data reserves part of the CPUs per operator to balance stages; with one operator that
        # only throttles it (measured on the docs build: cores 1.62 busy with it, 1.91 without)
        ctx.op_resource_reservation_enabled = len(stages) > 1
        ctx.execution_options.resource_limits = ctx.execution_options.resource_limits.copy(
            object_store_memory=run.max_rows_in_flight_mb * 1024 * 1024
        )
        table = _input_rows(pending)
        if prepare is not None:
            table = prepare(table)
        # few rows: one per block, for parallelism; many: up to 16 per block, since every block costs
        # the scheduler (measured +12% pages/s). A first stage's rows_per_block cuts the blocks here.
        per_block = stages[0].rows_per_block or max(1, min(16, table.num_rows // 32))
        stages = [dataclasses.replace(stages[0], rows_per_block=None), *stages[1:]]
        ds = ray.data.from_arrow([table.slice(i, per_block) for i in range(0, table.num_rows, per_block)])
        if _workers_write(run):
            stages = [*stages[:-1], dataclasses.replace(stages[-1], spill_dir=str(out_dir.resolve()))]
        for st in stages:
            ds = apply_stage(ds, st)

        def rows():
            for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=2):
                for row in batch.to_pylist():
                    if row["input_id"] not in seen:
                        seen.add(row["input_id"])
                        bar.update(1)
                    yield row

        write_stream(rows(), out_dir, prefix, pipeline, run_id, on_shard)
    bar.close()
    lost = sorted({it.input_id for _, _, it in pending} - seen)
    if lost:
        log.error("%d inputs produced neither a sample nor an error row: %s", len(lost), lost[:10])
    summary = BuildSummary(
        out_dir=str(out_dir), pipeline=pipeline, run_id=run_id, inputs=len(inputs),
        inputs_skipped=len(inputs) - len(pending), shards_written=counts["shards"], samples=counts["samples"],
        errors=counts["errors"], lost_inputs=lost, seconds=round(time.time() - started, 3), totals=manifest.totals(),
    )
    manifest.runs.append({"run_id": run_id, "started": started, "seconds": summary.seconds,
                          "run": asdict(run), "config": config_record or {},
                          "counts": {k: v for k, v in asdict(summary).items() if k not in ("totals", "lost_inputs")},
                          "lost_inputs": lost, "shard_names": [shard_name(prefix, s) for s in sorted({a[0] for a in pending})]})
    manifest.save(out_dir)
    return summary
