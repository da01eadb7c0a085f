"""Sample bytes written where they are made: a task spills its samples' tar blocks into part files.

With the sink in the driver, every sample's bytes (a page JPEG, a video's frames) would travel from
the worker through Ray's object store to one process. `SpillWriter` instead appends each sample's
tar blocks (`pipelines.tar_format`) to a part file under `{out}/.parts/`, one per (task, shard), and
returns the row without its bytes but with `part`, `part_offset` and `part_size`; the sink copies
those byte ranges into the shard in the kernel (`copy_file_range`). Every node must see `{out}`
(local Ray, or a filesystem all nodes mount). Part names start with `.tmp-`, so a crashed run's
parts are removed by the next one.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, BinaryIO

from pipelines.tar_format import sample_blocks

PARTS = ".parts"
TMP_PREFIX = ".tmp-"  # temp files: tars being written, parts; removed when a run starts


def parts_dir(out_dir: Path) -> Path:
    """Where the part files of a corpus in `out_dir` live."""
    return Path(out_dir) / PARTS


class SpillWriter:
    """Spills the samples of one task's rows into part files; `spill` closes them before returning."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = parts_dir(out_dir)

    def spill(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`rows` with every sample's member bytes replaced by a reference into a part file."""
        token = uuid.uuid4().hex
        files: dict[int, tuple[str, BinaryIO]] = {}
        try:
            for row in rows:
                if row.get("error_type") is not None:
                    continue
                sid = int(row["shard_id"])
                if sid not in files:
                    name = f"{TMP_PREFIX}part-{sid:06d}-{token}.tar"
                    files[sid] = (name, open(self.dir / name, "wb"))
                name, f = files[sid]
                blocks, _ = sample_blocks(row["key"], [(m["ext"], m["data"]) for m in row["members"]])
                row["part"], row["part_offset"], row["part_size"] = name, f.tell(), len(blocks)
                f.write(blocks)
                row["members"] = [{"ext": m["ext"], "data": None} for m in row["members"]]
        finally:
            for _, f in files.values():
                f.close()
        return rows
