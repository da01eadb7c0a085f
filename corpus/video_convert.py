"""`convert_corpus(old, new)`: a corpus of numbered frame members → the same corpus with one `{key}.mp4` per video.

The old layout stored a frames-mode video as `{key}.000.jpg`, `{key}.001.jpg`, ..., `{key}.json`. Each such
sample is rewritten as `{key}.mp4` (its frames muxed unchanged, in frame order, at the record's
`frame_timestamps`: `corpus.video_member.mux_frames`) followed by its other members in their order; every
other sample is copied member for member. Shards keep their names and sample order and go through the
project's own `ShardWriter`, so the result is byte for byte what a build in the new layout writes for the
same frames. Stats rows keep every column but the byte ranges and member names (rewritten by the sink);
error rows are carried over; the manifest is copied with each shard's new byte count. Nothing is decoded
or re-encoded. The old corpus is only read; NEW must not hold a corpus yet.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from corpus.errors import UserError
from corpus.manifest import Manifest
from corpus.range_reader import RangeReader
from corpus.sink import ERRORS, SHARDS, STATS, ShardWriter, prepare_dirs
from corpus.storage import Store
from corpus.tar_members import parse_members, read_record
from corpus.video_member import is_frame_member, mux_frames
from schemas.tables import SAMPLE_STAT_FIELDS
from schemas.video_member import VIDEO_MEMBER_EXT

log = logging.getLogger(__name__)

NO_MEMBER_LIMIT = 1 << 62  # the converter trusts the corpus it was pointed at


@dataclass
class ConvertSummary:
    """What a conversion did."""

    shards: int = 0
    samples: int = 0
    videos: int = 0  # samples whose frame members became one mp4 member
    bytes_before: int = 0
    bytes_after: int = 0


def convert_members(key: str, members: dict[str, bytes]) -> tuple[list[dict[str, Any]], bool]:
    """Sink members of sample `key` in the new layout, and whether it had frame members to mux."""
    frames = sorted((int(ext.split(".")[0]), ext) for ext in members if is_frame_member(ext))
    if not frames:
        return [{"ext": ext, "data": data} for ext, data in members.items()], False
    times = read_record(members).frame_timestamps
    if not times or len(times) != len(frames):
        raise UserError(f"sample {key}: {len(frames)} frame members but {len(times or [])} frame_timestamps in "
                        f"{key}.json; it cannot be converted (rebuild this corpus)")
    out = [{"ext": VIDEO_MEMBER_EXT, "data": mux_frames([members[ext] for _, ext in frames], times)}]
    out += [{"ext": ext, "data": data} for ext, data in members.items() if not is_frame_member(ext)]
    return out, True


def _table(store: Store, rel: str) -> list[dict[str, Any]]:
    return pq.read_table(io.BytesIO(store.read(rel))).to_pylist()


def _convert_shard(src: Store, dst: Store, manifest: Manifest, name: str, reader: RangeReader,
                   summary: ConvertSummary) -> int:
    """Rewrite shard `name` into `dst`; returns its new byte count."""
    stats, errors = _table(src, f"{STATS}/{name}.parquet"), _table(src, f"{ERRORS}/{name}.parquet")
    writer = ShardWriter(dst, manifest.prefix, manifest.shards[name]["shard_id"], manifest.pipeline)
    try:
        for row in stats:
            raw = reader.read(src.child(SHARDS, row["shard"]), row["offset"], row["size"])
            members, muxed = convert_members(row["key"], parse_members(raw, row["key"], NO_MEMBER_LIMIT))
            writer.add({**{f.name: row[f.name] for f in SAMPLE_STAT_FIELDS}, "key": row["key"], "members": members,
                        "input_id": row["input_id"], "source": row["source"]})
            summary.samples += 1
            summary.videos += muxed
        for e in errors:
            writer.add({"input_id": e["input_id"], "source": e["source"], "error_stage": e["stage"],
                        "error_type": e["error_type"], "error_message": e["message"], "error_category": e["category"]})
        result = writer.close()
    except BaseException as exc:
        writer.abort(exc)
        raise
    return result.bytes


def convert_corpus(old: str, new: str) -> ConvertSummary:
    """Write corpus `old` (old video layout) to `new` in the one-member layout; see the module docstring."""
    src, dst = Store.of(old), Store.of(new)
    manifest = Manifest.load(src)
    if manifest is None:
        raise UserError(f"{old} holds no manifest.json: convert a folder written by `mmcorpus ... build`")
    if Manifest.load(dst) is not None:
        raise UserError(f"{new} already holds a corpus: choose an empty folder for the converted copy")
    prepare_dirs(dst)
    summary, reader = ConvertSummary(), RangeReader()
    try:
        for name in sorted(manifest.shards):
            before = manifest.shards[name]["bytes"]
            after = _convert_shard(src, dst, manifest, name, reader, summary)
            manifest.shards[name] = {**manifest.shards[name], "bytes": after}
            summary.shards += 1
            summary.bytes_before += before
            summary.bytes_after += after
    finally:
        reader.close()
    manifest.save(dst)
    log.info("converted %s → %s: %d shards, %d samples, %d videos re-muxed, %d → %d bytes", old, new,
             summary.shards, summary.samples, summary.videos, summary.bytes_before, summary.bytes_after)
    return summary
