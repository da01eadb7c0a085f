"""The shard writer: one shard's WebDataset tar, error table and stats table, written through a `Store`.

The task that builds a shard's samples writes the shard (`pipelines.engine.shard_task`), locally or straight to
object storage, in this order:

- `shards/{prefix}-{shard:06d}.tar`, streamed as samples arrive (local: temp name, fsync, rename;
  object store: multipart upload, aborted on error), so no reader ever sees a half shard; members of a
  sample are adjacent, with fixed metadata so equal samples give equal bytes (`corpus.tar_format`);
- `errors/{prefix}-{shard:06d}.parquet`: every error row (quarantined, filtered, duplicate);
- `stats/{prefix}-{shard:06d}.parquet` **last**: one row per sample with its byte offset and size in the
  tar. Its presence marks the shard complete, so a rerun skips it; a tar without stats is redone.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.storage import Store
from corpus.tar_format import archive_tail, sample_blocks
from schemas.tables import ERROR_SCHEMA, PAGE_COST_FIELDS, SAMPLE_STAT_FIELDS, SCHEMA_VERSION, STATS_SCHEMA

SHARDS, STATS, ERRORS = "shards", "stats", "errors"


def shard_name(prefix: str, shard_id: int) -> str:
    """`{prefix}-{shard:06d}`: the stem shared by a shard's tar, stats and error files."""
    return f"{prefix}-{shard_id:06d}"


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as the bytes of a Parquet file."""
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def write_parquet(out: "Store | str | os.PathLike", rel: str, table: pa.Table) -> None:
    """Write a Parquet table whole under `rel` of a corpus (atomically: temp + rename, or one PUT)."""
    Store.of(out).put(rel, parquet_bytes(table))


@dataclass
class ShardResult:
    """What one finished shard holds."""

    shard_id: int
    name: str
    samples: int
    errors: int
    bytes: int
    input_ids: list[str]


class ShardWriter:
    """Writes one shard: the tar as samples arrive, the tables on `close`; `abort` leaves nothing complete."""

    def __init__(self, out: "Store | str | os.PathLike", prefix: str, shard_id: int, pipeline: str) -> None:
        self.store = Store.of(out)
        self.shard_id, self.pipeline = shard_id, pipeline
        self.name = shard_name(prefix, shard_id)
        self._stack = contextlib.ExitStack()
        self._file: BinaryIO | None = None
        self._size = 0
        self.stats: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.input_ids: list[str] = []
        self._keys: set[str] = set()

    def _note_input(self, input_id: str) -> None:
        if not self.input_ids or self.input_ids[-1] != input_id:
            self.input_ids.append(input_id)

    def add(self, row: dict[str, Any]) -> None:
        """Add one sink row: a sample goes into the tar, an error row into the error table."""
        self._note_input(row["input_id"])
        if row.get("error_type") is not None:
            self.errors.append(
                {
                    "input_id": row["input_id"],
                    "source": row.get("source"),
                    "shard": f"{self.name}.tar",
                    "stage": row.get("error_stage"),
                    "error_type": row.get("error_type"),
                    "message": row.get("error_message"),
                    "category": row.get("error_category"),
                    "pipeline": self.pipeline,
                    "schema_version": SCHEMA_VERSION,
                    **{f.name: row.get(f.name) for f in PAGE_COST_FIELDS},
                }
            )
            return
        key = row["key"]
        if not key or "." in key or "/" in key:
            raise ValueError(f"invalid sample key {key!r}: keys must be non-empty, without dots or slashes")
        if key in self._keys:
            raise ValueError(f"duplicate sample key {key!r} in shard {self.name}")
        self._keys.add(key)
        if self._file is None:
            self._file = self._stack.enter_context(self.store.writer(f"{SHARDS}/{self.name}.tar"))
        blocks, names = sample_blocks(key, [(m["ext"], m["data"]) for m in row["members"]])
        self._file.write(blocks)
        start, self._size = self._size, self._size + len(blocks)
        stat = {f.name: row.get(f.name) for f in SAMPLE_STAT_FIELDS + PAGE_COST_FIELDS}
        stat.update(
            key=key,
            shard=f"{self.name}.tar",
            offset=start,
            size=len(blocks),
            members=names,
            input_id=row["input_id"],
            source=row.get("source"),
            pipeline=self.pipeline,
            schema_version=SCHEMA_VERSION,
        )
        self.stats.append(stat)

    def close(self) -> ShardResult:
        """Finish the tar (complete the upload), then the error table, then the stats table (the marker)."""
        nbytes = 0
        if self._file is not None:
            tail = archive_tail(self._size)
            self._file.write(tail)
            nbytes = self._size + len(tail)
            self._stack.close()
            self._file = None
        self.store.put(f"{ERRORS}/{self.name}.parquet", parquet_bytes(pa.Table.from_pylist(self.errors, schema=ERROR_SCHEMA)))
        self.store.put(f"{STATS}/{self.name}.parquet", parquet_bytes(pa.Table.from_pylist(self.stats, schema=STATS_SCHEMA)))
        return ShardResult(self.shard_id, self.name, len(self.stats), len(self.errors), nbytes, self.input_ids)

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop a half-written shard: the temp tar is removed, the multipart upload aborted."""
        if self._file is not None:
            err = exc or RuntimeError(f"shard {self.name} aborted")
            self._file = None
            with contextlib.suppress(BaseException):
                self._stack.__exit__(type(err), err, err.__traceback__)


def prepare_dirs(out: "Store | str | os.PathLike") -> list[str]:
    """Create the corpus folders (local) and remove temp files a crashed run left behind."""
    return Store.of(out).prepare((SHARDS, STATS, ERRORS))


def completed_shards(out: "Store | str | os.PathLike", prefix: str) -> set[int]:
    """Shard ids whose stats object exists: written last, it marks the shard complete."""
    done = set()
    for name in Store.of(out).names(STATS):
        stem = name[: -len(".parquet")] if name.endswith(".parquet") else ""
        head, _, tail = stem.rpartition("-")
        if head == prefix and tail.isdigit():
            done.add(int(tail))
    return done
