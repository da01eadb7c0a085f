"""Step 1 of a dedup decision: candidate links between items that share an LSH band value.

Items are named by a packed id, `file << 32 | row`, over an ordered list of signature files (the
`--dedup-against` corpora's first, then this corpus's shards in shard order; rows in input order): a
smaller id is an item earlier in input order, and every step keeps that order.

`bucket_edges(read, files, banding, part, parts)`: per band (the `exact` hash counting as one), the items
whose band value falls in partition `part` of `parts` (value mod `parts`), grouped by value, as
(member, partner, kind) rows with partner < member:
- the exact band, and the bands of `column="bands"` (pages: each a hash of several MinHash values, specific
  enough that equal values mean a likely repeat): each item of a group is linked to the group's first item;
- `column="phash"` (images): the 64-bit pHash cut into `bands` slices; each item is linked to every
  earlier item of its group whose pHash is within `max_hamming` bits. With `bands = max_hamming + 1`
  slices, two hashes within that distance agree on at least one slice (pigeonhole), so every such pair is
  found; a slice alone says little, so no pair of a group is skipped.
A task holds only its partition's values (8 bytes and an 8-byte id each, and the pHash for images),
reading one file's columns at a time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: reads `columns` of the signature file `name` as a table (a local path or a corpus store behind it)
ReadColumns = Callable[[str, list[str]], pa.Table]

EXACT_BAND = -1
EXACT, NEAR = 0, 1
HASH_BITS = 64
_BLOCK = 1024  # members of a pHash group compared at once: memory 8 bytes x _BLOCK x group size


@dataclass(frozen=True)
class Banding:
    """Which band values a kind's signature files hold and how items sharing one are linked."""

    exact: bool  # the uint64 `exact` column is a band (linked to the group's first)
    bands: int  # LSH bands besides it (0: none)
    column: str = "bands"  # "bands": a list<uint64> column of band values; "phash": a uint64 cut into slices
    max_hamming: int = 0  # with "phash": link the pairs of a group within this many bits

    def columns(self) -> list[str]:
        """The signature columns step 1 reads."""
        return (["exact"] if self.exact else []) + ([self.column] if self.bands else [])

    def matrix(self, t: pa.Table) -> np.ndarray:
        """(rows, bands) uint64 band values of a table of `columns()`."""
        n = t.num_rows
        if not self.bands:
            return np.empty((n, 0), np.uint64)
        if self.column == "phash":
            ph = t.column("phash").to_numpy(zero_copy_only=False).astype(np.uint64)
            edges = [round(i * HASH_BITS / self.bands) for i in range(self.bands + 1)]
            return np.stack([(ph >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
                             for lo, hi in pairwise(edges)], axis=1)
        flat = pc.list_flatten(t.column(self.column)).to_numpy(zero_copy_only=False).astype(np.uint64)
        return flat.reshape(n, len(flat) // n if n else self.bands)[:, :self.bands]


def pack(file: int, rows: np.ndarray) -> np.ndarray:
    """Packed ids of `rows` of file number `file`."""
    return (np.int64(file) << 32) | rows.astype(np.int64)


def _to_first(ids: np.ndarray, values: np.ndarray, kind: int) -> np.ndarray:
    """(member, first, kind) rows linking each item of a value group to the group's first item."""
    order = np.argsort(values, kind="stable")  # ids ascend within a value: files and rows come in order
    ids, values = ids[order], values[order]
    start = np.r_[True, values[1:] != values[:-1]] if len(values) else np.zeros(0, bool)
    first = ids[np.flatnonzero(start)][np.cumsum(start) - 1]
    later = ~start
    return np.stack([ids[later], first[later], np.full(int(later.sum()), kind, np.int64)], axis=1)


def _within(ids: np.ndarray, values: np.ndarray, phash: np.ndarray, max_hamming: int) -> np.ndarray:
    """(member, partner, NEAR) rows for every pair of a value group whose pHashes are within `max_hamming`."""
    order = np.argsort(values, kind="stable")
    ids, values, phash = ids[order], values[order], phash[order]
    bounds = np.flatnonzero(np.r_[True, values[1:] != values[:-1], True]) if len(values) else np.zeros(1, np.int64)
    out = []
    for lo, hi in pairwise(bounds):
        for b in range(lo, hi, _BLOCK):  # members b.. of the group against all its earlier items
            members = np.arange(b, min(b + _BLOCK, hi))
            dist = np.bitwise_count(phash[members, None] ^ phash[None, lo:hi])
            m, p = np.nonzero((dist <= max_hamming) & (np.arange(lo, hi)[None, :] < members[:, None]))
            out.append(np.stack([ids[members[m]], ids[lo + p], np.full(len(m), NEAR, np.int64)], axis=1))
    return np.concatenate(out) if out else np.empty((0, 3), np.int64)


def bucket_edges(read: ReadColumns, files: Sequence, banding: Banding, part: int, parts: int) -> np.ndarray:
    """Step 1 for partition `part` of `parts`: (member, partner, kind) rows, int64 (see the module docstring)."""
    keys = ([EXACT_BAND] if banding.exact else []) + list(range(banding.bands))
    cols = banding.columns()
    ids: dict[int, list[np.ndarray]] = {k: [] for k in keys}
    values: dict[int, list[np.ndarray]] = {k: [] for k in keys}
    hashes: dict[int, list[np.ndarray]] = {k: [] for k in keys}
    for f, name in enumerate(files):
        t = read(name, cols)
        matrix = banding.matrix(t)
        if banding.exact:
            matrix = np.column_stack([t.column("exact").to_numpy(zero_copy_only=False).astype(np.uint64), matrix])
        phash = t.column("phash").to_numpy(zero_copy_only=False).astype(np.uint64) if "phash" in cols else None
        for j, k in enumerate(keys):
            v = matrix[:, j]
            keep = np.flatnonzero(v % np.uint64(parts) == np.uint64(part))
            ids[k].append(pack(f, keep))
            values[k].append(v[keep])
            if phash is not None:
                hashes[k].append(phash[keep])
    found = []
    for k in keys:
        if not ids[k]:
            continue
        i, v = np.concatenate(ids[k]), np.concatenate(values[k])
        if k == EXACT_BAND or banding.column != "phash":
            found.append(_to_first(i, v, EXACT if k == EXACT_BAND else NEAR))
        else:
            found.append(_within(i, v, np.concatenate(hashes[k]), banding.max_hamming))
    return np.concatenate(found) if found else np.empty((0, 3), np.int64)
