"""What a build writes into its manifest, and the summary it returns.

`BuildRecorder` records the shards an earlier run completed but died before recording, one entry per
shard as its summary row arrives (the manifest saved at most once a second: resume trusts the stats
objects, not this record), and at the end the run entry: its config (secrets redacted), counts, lost
inputs, shard names and the per-operator `stages` (`pipelines.engine.operator_stats`).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from corpus.errors import UserError
from corpus.manifest import Manifest, stage_list
from corpus.sink import ERRORS, SHARDS, STATS, shard_name
from corpus.storage import Store, redact
from pipelines.engine.operator_stats import add_stages
from pipelines.engine.plan import ShardPlan
from pipelines.engine.run_config import RunConfig

log = logging.getLogger(__name__)


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


def shard_entry(res: dict[str, Any]) -> dict[str, Any]:
    """The manifest entry of a completed shard, from its summary row."""
    return {"shard_id": res["shard_id"], "tar": f"{res['name']}.tar" if res["samples"] else None,
            "samples": res["samples"], "errors": res["errors"], "bytes": res["bytes"], "inputs": len(res["input_ids"])}


class BuildRecorder:
    """The manifest writer of one build run over `plan`; see the module docstring."""

    def __init__(self, manifest: Manifest, store: Store, plan: ShardPlan, pipeline: str, progress: bool) -> None:
        self.manifest, self.store, self.plan, self.pipeline = manifest, store, plan, pipeline
        self.pending = plan.pending
        self.counts = {"shards": 0, "samples": 0, "errors": 0, "driver_bytes": 0}
        self.seen: set[str] = set()
        self.stages: dict[str, dict[str, Any]] = {}
        self.last_save = 0.0
        self.bar = tqdm(total=len(self.pending), unit="input", desc=f"{pipeline} build", disable=not progress)

    def recover(self) -> None:
        """Manifest entries for shards completed by a run that died before recording them."""
        for sid, ids in self.plan.recover.items():
            name = shard_name(self.plan.prefix, sid)
            with self.store.fs.open(self.store.path(STATS, f"{name}.parquet"), "rb") as f:
                samples = pq.read_metadata(f).num_rows
            with self.store.fs.open(self.store.path(ERRORS, f"{name}.parquet"), "rb") as f:
                errors = pq.read_metadata(f).num_rows
            nbytes = self.store.size(f"{SHARDS}/{name}.tar") if samples else 0
            self.manifest.shards[name] = shard_entry(dict(shard_id=sid, name=name, samples=samples, errors=errors,
                                                          bytes=nbytes, input_ids=ids))
            log.info("recorded %s, completed by an earlier run", name)

    def add(self, batch: pa.Table) -> None:
        """Record a batch of shard summary rows; a row with an `error` stops the build as a UserError."""
        self.counts["driver_bytes"] += batch.nbytes
        for res in batch.to_pylist():
            if res["error"]:
                raise UserError(res["error"])
            self.manifest.shards[res["name"]] = shard_entry(res)
            self.seen.update(res["input_ids"])
            add_stages(self.stages, res["stages"])
            for k, v in (("shards", 1), ("samples", res["samples"]), ("errors", res["errors"])):
                self.counts[k] += v
            self.bar.update(len(res["input_ids"]))
            self.bar.set_postfix(**{k: self.counts[k] for k in ("samples", "errors", "shards")})
        if time.time() - self.last_save > 1.0:  # resume trusts the stats objects, not this record
            self.manifest.save(self.store)
            self.last_save = time.time()

    def finish(self, run_id: str, started: float, run: RunConfig,
               config_record: dict[str, Any] | None) -> BuildSummary:
        """Append the run entry, save the manifest, and return the build's summary."""
        self.bar.close()
        lost = sorted({it.input_id for _, _, it in self.pending} - self.seen)
        if lost:
            log.error("%d inputs produced neither a sample nor an error row: %s", len(lost), lost[:10])
        n, c = len(self.plan.inputs), self.counts
        summary = BuildSummary(
            out_dir=self.store.url, pipeline=self.pipeline, run_id=run_id, inputs=n,
            inputs_skipped=n - len(self.pending),
            shards_written=c["shards"], samples=c["samples"], errors=c["errors"], lost_inputs=lost,
            seconds=round(time.time() - started, 3), totals=self.manifest.totals(), driver_bytes=c["driver_bytes"],
        )
        record = asdict(run)
        record["storage_options"] = redact(run.storage_options)
        config = json.loads(json.dumps(config_record or {}))
        if isinstance(config.get("run"), dict):
            config["run"]["storage_options"] = redact(config["run"].get("storage_options") or {})
        self.manifest.runs.append({
            "run_id": run_id, "started": started, "seconds": summary.seconds, "run": record, "config": config,
            "counts": {k: v for k, v in asdict(summary).items() if k not in ("totals", "lost_inputs")},
            "lost_inputs": lost, "shard_names": [shard_name(self.plan.prefix, s) for s in self.plan.pending_shards],
            "stages": stage_list(self.stages),
        })
        self.manifest.save(self.store)
        return summary
