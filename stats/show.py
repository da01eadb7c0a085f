"""One sample straight from its tar: the stats row gives the byte range, one read fetches it.

`fetch_sample(dir, key)` looks the key up in `stats/*.parquet` (a unique key prefix is enough), reads
exactly `size` bytes at `offset` of `shards/{shard}` (plain seek/read for a local file, fsspec for a
URL), parses the USTAR headers inside that range and checks the index is exact: every header's checksum
is valid, the members fill the range to the byte, and their names are the stats row's `members` list.
Any mismatch raises `IndexMismatch`, because a trainer trusting the index would read the wrong bytes.
`describe_member` says what a member holds; a video's `{key}.mp4` frames member is demuxed
(`corpus.video_member`) to report its frame count, times and frame size. Members are shown as stored, so
a sample of the old layout (`{key}.000.jpg`, ...) shows its frame members one by one.
"""
from __future__ import annotations

import logging
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import UserError
from corpus.sink import SHARDS, STATS
from corpus.storage import is_url
from corpus.tar_members import SampleError
from corpus.video_member import demux_frames
from schemas.video_member import VIDEO_MEMBER_EXT
from stats.catalog import NOT_A_CORPUS, connect, normalize, read_manifest, sql_str

log = logging.getLogger(__name__)

BLOCK = tarfile.BLOCKSIZE  # 512


class IndexMismatch(RuntimeError):
    """The stats row's byte range does not hold exactly the sample's members."""


@dataclass(frozen=True)
class Location:
    """Where a sample lives: its shard tar and byte range, and the member names the stats row lists."""

    key: str
    shard: str
    offset: int
    size: int
    members: list[str]


@dataclass
class Sample:
    """A fetched sample: its location and its members in tar order, `{name: bytes}`."""

    location: Location
    members: dict[str, bytes] = field(default_factory=dict)


def locate(corpus_dir: str | os.PathLike, key: str, *, init_sql: str | None = None, use_fsspec: bool | None = None) -> Location:
    """The stats row of `key` (or of the only key starting with it); UserError with advice otherwise."""
    path = normalize(corpus_dir)
    con = connect(init_sql=init_sql, urls=[path], use_fsspec=use_fsspec)
    try:
        prefix = read_manifest(con, path).get("prefix", "*")
        pattern = f"{path}/{STATS}/{prefix}-*.parquet"
        try:
            rows = con.execute(
                f"SELECT key, shard, \"offset\", size, members FROM read_parquet({sql_str(pattern)}, union_by_name = true) "
                "WHERE starts_with(key, ?) ORDER BY key LIMIT 6", [key]
            ).fetchall()
        except Exception as e:  # duckdb.IOException when nothing matches the glob
            raise UserError(f"no {STATS}/{prefix}-*.parquet under {path}: {NOT_A_CORPUS} ({e})") from e
    finally:
        con.close()
    exact = [r for r in rows if r[0] == key]
    if exact:
        rows = exact
    if not rows:
        raise UserError(f"no sample with key {key!r} in {path}; list some with: "
                         f"mmcorpus stats query {corpus_dir} \"SELECT key, task, shard FROM samples LIMIT 10\"")
    if len(rows) > 1:
        raise UserError(f"{key!r} is the start of several keys ({', '.join(r[0] for r in rows[:5])}, ...): give more characters")
    k, shard, offset, size, members = rows[0]
    return Location(k, shard, int(offset), int(size), list(members or []))


def read_range(path: str, offset: int, size: int) -> bytes:
    """Exactly `size` bytes at `offset` of a local file or a URL (fsspec); IndexMismatch when short."""
    if is_url(path):
        import fsspec

        with fsspec.open(path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
    else:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
    if len(data) != size:
        raise IndexMismatch(f"{path} holds {len(data)} bytes at offset {offset}, the index says {size}")
    return data


def parse_members(blob: bytes, where: str = "range") -> list[tuple[str, bytes]]:
    """The (name, data) members of a byte range that starts at a tar header and ends after a member.

    Raises IndexMismatch unless the range is exactly a run of complete members (checksummed headers,
    data padded to 512-byte blocks, no bytes left over).
    """
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(blob):
        header = blob[pos:pos + BLOCK]
        if len(header) < BLOCK:
            raise IndexMismatch(f"{where}: {len(header)} stray bytes after the last member at {pos}")
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.HeaderError as e:
            raise IndexMismatch(f"{where}: no valid tar header at +{pos} ({e}); the offset is wrong") from e
        start = pos + BLOCK
        end = start + info.size
        if end > len(blob):
            raise IndexMismatch(f"{where}: member {info.name} ends at +{end}, beyond the indexed size {len(blob)}")
        out.append((info.name, blob[start:end]))
        pos = start + -(-info.size // BLOCK) * BLOCK
    if pos != len(blob):
        raise IndexMismatch(f"{where}: members end at +{pos}, the indexed size is {len(blob)}")
    return out


def fetch_sample(corpus_dir: str | os.PathLike, key: str, *, init_sql: str | None = None, use_fsspec: bool | None = None) -> Sample:
    """Locate `key`, read its byte range from the tar and return its verified members."""
    loc = locate(corpus_dir, key, init_sql=init_sql, use_fsspec=use_fsspec)
    tar = f"{normalize(corpus_dir)}/{SHARDS}/{loc.shard}"
    stats = f"{STATS}/{loc.shard.removesuffix('.tar')}.parquet"
    rebuild = f"delete {stats} and rerun the build command into the same folder, which rebuilds that shard"
    try:
        blob = read_range(tar, loc.offset, loc.size)
        members = parse_members(blob, f"{loc.shard}@{loc.offset}")
        names = [n for n, _ in members]
        if names != loc.members:
            raise IndexMismatch(f"{loc.shard}@{loc.offset}: the range holds {names}, the stats row lists {loc.members}")
        if any(not n.startswith(loc.key + ".") for n in names):
            raise IndexMismatch(f"{loc.shard}@{loc.offset}: members {names} do not belong to key {loc.key}")
    except FileNotFoundError as e:
        raise UserError(f"{tar} is missing, though {stats} lists {loc.key} in it: {rebuild}") from e
    except IndexMismatch as e:
        raise UserError(f"{loc.key} cannot be read as its stats row says ({e}): the shard is damaged or not the "
                        f"one its stats describe; {rebuild}") from e
    log.debug("fetched %s: %d members, %d bytes at %s@%d", loc.key, len(names), loc.size, loc.shard, loc.offset)
    return Sample(loc, dict(members))


def write_members(sample: Sample, out_dir: str | os.PathLike) -> list[Path]:
    """Write each member as `out_dir/{name}`; returns the paths written."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in sample.members.items():
        p = d / Path(name).name  # member names never hold a folder; never write outside out_dir
        p.write_bytes(data)
        paths.append(p)
    return paths


def describe_member(name: str, data: bytes) -> str:
    """A one-line human description of a member: image size, JSON keys, or byte count."""
    ext = name.rsplit(".", 1)[-1].lower()
    if ext in ("jpg", "jpeg", "png", "webp"):
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                return f"{im.format} image {im.width}x{im.height} px, {len(data):,} bytes"
        except Exception as e:  # noqa: BLE001 - describe, do not fail, on an undecodable image
            return f"undecodable image ({e}), {len(data):,} bytes"
    if ext == "json":
        return f"JSON record, {len(data):,} bytes"
    if ext == VIDEO_MEMBER_EXT:
        try:
            jpegs, times = demux_frames(data, name)
        except SampleError as e:  # an original file (frames.store=original) or a damaged member: say which
            return f"video, {len(data):,} bytes ({e})"
        return (f"video of {len(jpegs)} JPEG frames at {times[0]:.3f}-{times[-1]:.3f} s "
                f"({describe_member('frame.jpg', jpegs[0])}, first frame), {len(data):,} bytes")
    return f"{len(data):,} bytes"
