"""`manifest.json`: what a corpus holds and how it was made; the resume point of every build.

The manifest records the input-to-shard assignment (a digest of the sorted input ids and the shard
size), every completed shard with its counts, and one entry per run with its configuration and its
`stages`: per operator, in pipeline order, the rows it worked on (`rows_in`), the rows it produced
(`rows_out`), the rows it stopped by reason (`rejected`: {"CATEGORY:ERROR_TYPE": rows}) and the
`seconds` spent in it. A rerun with the same inputs and shard size resumes; different inputs are
refused with a clear message.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from corpus.storage import Store
from schemas.tables import SCHEMA_VERSION

MANIFEST = "manifest.json"
CATALOG_FILE = "catalog.duckdb"  # the DuckDB catalog `mmcorpus stats catalog` writes beside the manifest


def assignment_digest(input_ids: list[str], inputs_per_shard: int) -> str:
    """A digest that changes whenever the shard a given input lands in could change."""
    h = hashlib.sha256(str(inputs_per_shard).encode())
    for i in input_ids:
        h.update(b"\0" + i.encode("utf-8"))
    return h.hexdigest()[:32]


@dataclass
class Manifest:
    """The corpus' manifest, loaded and saved whole."""

    pipeline: str
    prefix: str
    assignment: str
    inputs_per_shard: int
    n_inputs: int
    shards: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @staticmethod
    def load(out: "Store | str | os.PathLike") -> "Manifest | None":
        """The manifest of the corpus at `out` (folder or URL), or None when it holds no corpus yet."""
        data = manifest_json(out)
        return None if data is None else Manifest(**data)

    def save(self, out: "Store | str | os.PathLike") -> None:
        """Write whole (temp name + rename locally, one PUT on a store), so no reader sees a torn manifest."""
        Store.of(out).put(MANIFEST, json.dumps(self.__dict__, indent=1, sort_keys=True).encode())

    def totals(self) -> dict[str, int]:
        """Samples, errors, bytes and shards over every completed shard."""
        t = {"shards": len(self.shards), "samples": 0, "errors": 0, "bytes": 0}
        for s in self.shards.values():
            for k in ("samples", "errors", "bytes"):
                t[k] += s[k]
        return t


def add_stage(total: dict[str, dict[str, Any]], operator: str, rows_in: int, rows_out: int, seconds: float,
              rejected: dict[str, int]) -> None:
    """Add one operator's figures to `total` ({operator: {rows_in, rows_out, rejected, seconds}})."""
    t = total.setdefault(operator, {"rows_in": 0, "rows_out": 0, "rejected": {}, "seconds": 0.0})
    t["rows_in"] += rows_in
    t["rows_out"] += rows_out
    t["seconds"] += seconds
    for reason, n in rejected.items():
        t["rejected"][reason] = t["rejected"].get(reason, 0) + n


def stage_list(total: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """`total` as a run entry's `stages`: one row per operator in order, seconds rounded to milliseconds."""
    return [{"operator": name, **t, "rejected": dict(sorted(t["rejected"].items())), "seconds": round(t["seconds"], 3)}
            for name, t in total.items()]


def corpus_stages(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `stages` of every run summed: what each operator did to the whole corpus (runs before the
    manifest recorded stages add nothing)."""
    total: dict[str, dict[str, Any]] = {}
    for run in runs:
        for s in run.get("stages", []):
            add_stage(total, s["operator"], s["rows_in"], s["rows_out"], s["seconds"], s["rejected"])
    return stage_list(total)


def manifest_json(out: "Store | str | os.PathLike") -> dict[str, Any] | None:
    """The parsed `manifest.json` of the corpus at `out` (folder, URL or `Store`), None when there is none;
    ValueError when it is not JSON. The one way Python code reads it (SQL reads it with DuckDB's read_text)."""
    store = Store.of(out)
    if not store.exists(MANIFEST):
        return None
    return json.loads(store.read(MANIFEST))
