"""`manifest.json`: what a corpus holds and how it was made; the resume point of every build.

The manifest records the input-to-shard assignment (a digest of the sorted input ids and the shard
size), every completed shard with its counts, and one entry per run with its configuration. A rerun
with the same inputs and shard size resumes; different inputs are refused with a clear message.
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
        store = Store.of(out)
        if not store.exists(MANIFEST):
            return None
        return Manifest(**json.loads(store.read(MANIFEST)))

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
