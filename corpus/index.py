"""Shard listing: the completed shards of a corpus and every sample's byte range in its tar.

`CorpusIndex.load(url)` reads a corpus folder (local path or any fsspec URL): `manifest.json` names the
completed shards and their sample counts, `stats/{shard}.parquet` gives every sample's key, byte offset and
size in its tar. The index refuses a corpus whose stats disagree with its manifest, because exact epochs
and exact resume both trust these numbers. `old_frame_member` names a member in the old video layout
(numbered frame members, `{key}.000.jpg`, ...) when the corpus has one; a reader that only reads one
`{key}.mp4` per video refuses it with `require_video_member()`, whose one line names the converter.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpus.errors import UserError
from corpus.manifest import MANIFEST, manifest_json
from corpus.sink import SHARDS, STATS
from corpus.video_member import OLD_FRAME_NAME, old_layout_error

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["key", "offset", "size"]


class CorpusIndexError(UserError, ValueError):
    """The corpus' manifest and stats disagree, one of them is unreadable, or the folder is not a corpus."""


def damaged_stats(url: str, name: str, error: Exception) -> CorpusIndexError:
    """The error for an unreadable stats file: which file, why, and how the build rewrites it."""
    reason = " ".join(str(error).split())[:200]
    return CorpusIndexError(f"{join_url(url, STATS, name + '.parquet')} is damaged ({type(error).__name__}: {reason}): "
                            "delete it and rerun the build command into the same folder, which rebuilds that shard")


def join_url(base: str, *parts: str) -> str:
    """`base/part/...` for a local path or a URL."""
    return "/".join([base.rstrip("/"), *parts])


@dataclass
class CorpusIndex:
    """Every sample of one corpus: shard tar URLs, per-shard sample counts, and per-sample key/offset/size.

    Sample `i` of the corpus (0-based, shards in name order, samples in file order) lives in shard
    `shard_of(i)` at bytes `[offsets[i], offsets[i] + sizes[i])`.
    """

    url: str
    shard_urls: list[str]
    shard_starts: np.ndarray  # (n_shards + 1,) cumulative sample counts
    keys: pa.Array
    offsets: np.ndarray
    sizes: np.ndarray
    old_frame_member: str | None = None  # "{shard}.tar: {member}" of the old video layout, if any

    @property
    def n_samples(self) -> int:
        return int(self.shard_starts[-1])

    @property
    def n_shards(self) -> int:
        return len(self.shard_urls)

    def shard_of(self, sample: int) -> int:
        return int(np.searchsorted(self.shard_starts, sample, side="right")) - 1

    @staticmethod
    def load(url: str) -> "CorpusIndex":
        """Index the completed, non-empty shards of the corpus at `url` (path or fsspec URL)."""
        url = url.rstrip("/")
        fs, root = fsspec.core.url_to_fs(url)
        try:
            manifest = manifest_json(url)
        except (ValueError, UnicodeDecodeError) as e:
            raise CorpusIndexError(f"{join_url(url, MANIFEST)} is not valid JSON ({e}): a build rewrites it when "
                                   "rerun into the same folder") from e
        if manifest is None:
            raise CorpusIndexError(f"no {MANIFEST} in {url}: not a corpus folder built by mmcorpus")
        names = sorted(n for n, s in manifest.get("shards", {}).items() if s.get("samples"))
        urls, counts, keys, offsets, sizes = [], [], [], [], []
        old_frame_member = None
        for name in names:
            try:
                with fs.open(join_url(root, STATS, f"{name}.parquet"), "rb") as f:
                    table = pq.read_table(f, columns=INDEX_COLUMNS + ["shard", "members"])
            except (pa.ArrowException, OSError) as e:
                raise damaged_stats(url, name, e) from e
            expected = manifest["shards"][name]["samples"]
            if table.num_rows != expected:
                raise CorpusIndexError(f"{url}: stats of {name} list {table.num_rows} samples, the manifest {expected}")
            tar = manifest["shards"][name].get("tar") or f"{name}.tar"
            if set(table.column("shard").to_pylist()) != {tar}:
                raise CorpusIndexError(f"{url}: stats of {name} point outside {tar}")
            member_names = table.column("members").combine_chunks().flatten()
            old = pc.filter(member_names, pc.match_substring_regex(member_names, OLD_FRAME_NAME))
            if len(old) and old_frame_member is None:
                old_frame_member = f"{name}.tar: {old[0].as_py()}"
            order = np.argsort(table.column("offset").to_numpy(), kind="stable")
            table = table.take(pa.array(order))
            urls.append(join_url(url, SHARDS, tar))
            counts.append(table.num_rows)
            keys.append(table.column("key").combine_chunks())
            offsets.append(table.column("offset").to_numpy())
            sizes.append(table.column("size").to_numpy())
        starts = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        log.info("%s: %d shards, %d samples", url, len(urls), int(starts[-1]))
        return CorpusIndex(
            url=url,
            shard_urls=urls,
            shard_starts=starts,
            keys=pa.concat_arrays(keys) if keys else pa.array([], pa.string()),
            offsets=np.concatenate(offsets) if offsets else np.zeros(0, np.int64),
            sizes=np.concatenate(sizes) if sizes else np.zeros(0, np.int64),
            old_frame_member=old_frame_member,
        )

    def require_video_member(self) -> None:
        """Raise `UserError` (one line naming the converter) when the corpus is in the old video layout."""
        if self.old_frame_member is not None:
            raise UserError(old_layout_error(self.url, self.old_frame_member))
