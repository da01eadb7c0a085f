"""The shard sink: streams finished rows into WebDataset tars, stats, error tables and the manifest.

Rows arrive in shard order (shard ids are contiguous in the stream). For each shard the sink writes

- `shards/{prefix}-{shard:06d}.tar` to a hidden temp name, fsyncs and renames it (readers never see a
  half shard); members of a sample are adjacent, with fixed metadata so equal samples give equal bytes
  (`pipelines.tar_format`). A row whose bytes a worker already wrote to a part file
  (`pipelines.spill`) is copied from there in the kernel; the part files go once the shard is done;
- `errors/{prefix}-{shard:06d}.parquet`: every error row (quarantined, filtered, duplicate);
- `stats/{prefix}-{shard:06d}.parquet` **last**: one row per sample with its byte offset and size in the
  tar. Its presence marks the shard complete, so a rerun skips it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.spill import TMP_PREFIX, parts_dir
from pipelines.tar_format import archive_tail, member_names, sample_blocks
from schemas.tables import ERROR_SCHEMA, SAMPLE_STAT_FIELDS, SCHEMA_VERSION, STATS_SCHEMA

log = logging.getLogger(__name__)

SHARDS, STATS, ERRORS = "shards", "stats", "errors"


def shard_name(prefix: str, shard_id: int) -> str:
    """`{prefix}-{shard:06d}`: the stem shared by a shard's tar, stats and error files."""
    return f"{prefix}-{shard_id:06d}"


def atomic_write_parquet(table: pa.Table, path: Path) -> None:
    """Write a Parquet file under a temp name, fsync, then rename into place."""
    tmp = path.with_name(TMP_PREFIX + path.name)
    pq.write_table(table, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class ShardResult:
    """What one finished shard holds."""

    shard_id: int
    name: str
    samples: int
    errors: int
    bytes: int
    input_ids: list[str]


def _copy_range(src: BinaryIO, dst: BinaryIO, offset: int, size: int) -> int:
    """Copy up to `size` bytes at `offset` of `src` to the end of `dst`; bytes copied (0 at end of file).
    In the kernel where it can (`copy_file_range`, Linux); read and write elsewhere (macOS, or file
    systems that refuse it)."""
    if hasattr(os, "copy_file_range"):
        try:
            return os.copy_file_range(src.fileno(), dst.fileno(), size, offset)
        except OSError:
            pass
    src.seek(offset)
    data = src.read(min(size, 1 << 24))
    dst.write(data)
    dst.flush()
    return len(data)


class ShardWriter:
    """Writes one shard: the tar as samples arrive, the tables on `close`."""

    def __init__(self, out_dir: Path, prefix: str, shard_id: int, pipeline: str, run_id: str) -> None:
        self.out_dir, self.shard_id, self.pipeline, self.run_id = out_dir, shard_id, pipeline, run_id
        self.name = shard_name(prefix, shard_id)
        self.tar_path = out_dir / SHARDS / f"{self.name}.tar"
        self._tmp = self.tar_path.with_name(TMP_PREFIX + self.tar_path.name)
        self._file: BinaryIO | None = None
        self._size = 0
        self._parts: dict[str, BinaryIO] = {}
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
                    "run_id": self.run_id,
                    "schema_version": SCHEMA_VERSION,
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
            self._file = open(self._tmp, "wb")
        start = self._size
        if row.get("part") is not None:
            names = member_names(key, [m["ext"] for m in row["members"]])
            self._copy_part(row["part"], int(row["part_offset"]), int(row["part_size"]))
        else:
            blocks, names = sample_blocks(key, [(m["ext"], m["data"]) for m in row["members"]])
            self._file.write(blocks)
            self._size += len(blocks)
        stat = {f.name: row.get(f.name) for f in SAMPLE_STAT_FIELDS}
        stat.update(
            key=key,
            shard=f"{self.name}.tar",
            offset=start,
            size=self._size - start,
            members=names,
            input_id=row["input_id"],
            source=row.get("source"),
            pipeline=self.pipeline,
            run_id=self.run_id,
            schema_version=SCHEMA_VERSION,
        )
        self.stats.append(stat)

    def _copy_part(self, part: str, offset: int, size: int) -> None:
        """Append `size` bytes at `offset` of a worker's part file to the tar, in the kernel."""
        assert self._file is not None
        if "/" in part or not part.startswith(TMP_PREFIX):
            raise ValueError(f"invalid part file name {part!r}")
        if part not in self._parts:
            self._parts[part] = open(parts_dir(self.out_dir) / part, "rb")
        src = self._parts[part]
        self._file.flush()
        done = 0
        while done < size:
            n = _copy_range(src, self._file, offset + done, size - done)
            if n == 0:
                raise ValueError(f"part file {part} ends before byte {offset + size}")
            done += n
        self._size += size

    def _drop_parts(self) -> None:
        for part, f in self._parts.items():
            f.close()
            (parts_dir(self.out_dir) / part).unlink(missing_ok=True)
        self._parts.clear()

    def close(self) -> ShardResult:
        """Finish the tar (fsync + rename), then the error table, then the stats table (the marker)."""
        nbytes = 0
        if self._file is not None:
            self._file.write(archive_tail(self._size))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.tar_path)
            nbytes = self.tar_path.stat().st_size
        atomic_write_parquet(pa.Table.from_pylist(self.errors, schema=ERROR_SCHEMA), self.out_dir / ERRORS / f"{self.name}.parquet")
        atomic_write_parquet(pa.Table.from_pylist(self.stats, schema=STATS_SCHEMA), self.out_dir / STATS / f"{self.name}.parquet")
        self._drop_parts()
        return ShardResult(self.shard_id, self.name, len(self.stats), len(self.errors), nbytes, self.input_ids)

    def abort(self) -> None:
        """Drop a half-written shard (its temp tar) without leaving anything a reader could see."""
        if self._file is not None:
            self._file.close()
        self._tmp.unlink(missing_ok=True)
        self._drop_parts()


def prepare_dirs(out_dir: Path) -> None:
    """Create the corpus folders and remove temp files (and part files) a crashed run left behind."""
    for d in [out_dir / sub for sub in (SHARDS, STATS, ERRORS)] + [parts_dir(out_dir)]:
        d.mkdir(parents=True, exist_ok=True)
        for stale in d.glob(TMP_PREFIX + "*"):
            log.info("removing partial file from an interrupted run: %s", stale)
            stale.unlink()


def completed_shards(out_dir: Path, prefix: str) -> set[int]:
    """Shard ids whose stats file exists: written last, it marks the shard complete."""
    done = set()
    for p in (out_dir / STATS).glob(f"{prefix}-*.parquet"):
        tail = p.stem.rsplit("-", 1)[-1]
        if tail.isdigit():
            done.add(int(tail))
    return done


def write_stream(
    rows: Iterable[dict[str, Any]], out_dir: Path, prefix: str, pipeline: str, run_id: str,
    on_shard: "callable[[ShardResult], None]",
) -> None:
    """Consume rows in shard order, writing each shard as it completes and reporting it."""
    writer: ShardWriter | None = None
    finished: set[int] = set()
    try:
        for row in rows:
            sid = int(row["shard_id"])
            if writer is None or sid != writer.shard_id:
                if writer is not None:
                    on_shard(writer.close())
                    finished.add(writer.shard_id)
                if sid in finished:
                    raise RuntimeError(f"rows of shard {sid} arrived after the shard was closed; order was not preserved")
                writer = ShardWriter(out_dir, prefix, sid, pipeline, run_id)
            writer.add(row)
        if writer is not None:
            on_shard(writer.close())
            writer = None
    finally:
        if writer is not None:
            writer.abort()
