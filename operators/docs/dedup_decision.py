"""The page-dedup decision over signature files, as pure steps that Ray tasks (or a test) run.

Pages are named by a packed id, `file << 32 | row`, over an ordered list of signature files (the
`--dedup-against` corpora's first, then this corpus's shards in shard order; rows are in input-id then
page order): a smaller id is a page earlier in input order, and every step keeps that order.

1. `bucket_edges(files, exact, bands, part, parts)`: per band (the exact hash counting as one), the
   pages whose band value falls in partition `part` of `parts`, grouped by value; each page of a group
   is linked to the group's first (earliest) page. A task holds only its partition's values (8 bytes
   and an 8-byte id each), reading one file's columns at a time.
2. `verify_edges(files, member_file, edges)`: each candidate edge (later page of `member_file`, earlier
   page) with the estimated Jaccard similarity of their MinHashes (the share of equal values) and both
   pages' keys; a task reads the member's file and the rows it needs of the partners' files.
3. `resolve(edges, threshold, own_from)`: exact edges and near edges at or above `threshold` joined
   into groups (union-find); the earliest page of a group is kept and every other page of this corpus
   (file >= `own_from`) is a duplicate of it. Chains are followed: a page can be dropped through a page
   it resembles that resembles the kept one (as datatrove's and NeMo Curator's connected components).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: reads `columns` of the signature file `name` as a table (a local path or a corpus store behind it)
ReadColumns = Callable[[str, list[str]], pa.Table]

EXACT_BAND = -1
EXACT, NEAR = 0, 1


def pack(file: int, rows: np.ndarray) -> np.ndarray:
    return (np.int64(file) << 32) | rows.astype(np.int64)


def _groups(ids: np.ndarray, values: np.ndarray, kind: int) -> np.ndarray:
    """(member, first, kind) rows linking each page of a value group to the group's first page."""
    order = np.argsort(values, kind="stable")  # ids ascend within a value: files and rows come in order
    ids, values = ids[order], values[order]
    start = np.r_[True, values[1:] != values[:-1]] if len(values) else np.zeros(0, bool)
    first = ids[np.flatnonzero(start)][np.cumsum(start) - 1]
    later = ~start
    return np.stack([ids[later], first[later], np.full(int(later.sum()), kind, np.int64)], axis=1)


def bucket_edges(read: ReadColumns, files: Sequence, exact: bool, bands: int, part: int, parts: int) -> np.ndarray:
    """Step 1 for partition `part` of `parts`: (member, first, kind) rows, int64, of every band (the
    exact hash when `exact`, the first `bands` LSH bands) whose value falls in the partition."""
    cols = (["exact"] if exact else []) + (["bands"] if bands else [])
    keys = ([EXACT_BAND] if exact else []) + list(range(bands))
    ids: dict[int, list[np.ndarray]] = {k: [] for k in keys}
    values: dict[int, list[np.ndarray]] = {k: [] for k in keys}
    for f, name in enumerate(files):
        t = read(name, cols)
        n = t.num_rows
        matrix = np.empty((n, 0), np.uint64)
        if bands:
            flat = pc.list_flatten(t.column("bands")).to_numpy(zero_copy_only=False).astype(np.uint64)
            matrix = flat.reshape(n, len(flat) // n if n else bands)[:, :bands]
        if exact:
            matrix = np.column_stack([t.column("exact").to_numpy(zero_copy_only=False).astype(np.uint64), matrix])
        for j, k in enumerate(keys):
            v = matrix[:, j]
            keep = np.flatnonzero(v % np.uint64(parts) == np.uint64(part))
            ids[k].append(pack(f, keep))
            values[k].append(v[keep])
    found = [_groups(np.concatenate(ids[k]), np.concatenate(values[k]), EXACT if k == EXACT_BAND else NEAR)
             for k in keys if ids[k]]
    return np.concatenate(found) if found else np.empty((0, 3), np.int64)


@dataclass(frozen=True)
class Edge:
    """A verified candidate: `member` (later) resembles `partner` (earlier)."""

    member: int
    partner: int
    kind: int  # EXACT | NEAR
    similarity: float
    member_key: tuple[str, int]  # (input id, page)
    partner_key: tuple[str, int]


def _rows(read: ReadColumns, name: str, rows: np.ndarray) -> tuple[np.ndarray, list[tuple[str, int]]]:
    t = read(name, ["input_id", "page_index", "minhash"]).take(pa.array(rows))
    mh = np.asarray(t.column("minhash").to_pylist(), dtype=np.uint32).reshape(len(rows), -1)
    return mh, list(zip(t.column("input_id").to_pylist(), t.column("page_index").to_pylist()))


def verify_edges(read: ReadColumns, files: Sequence[str], member_file: int, edges: np.ndarray) -> list[Edge]:
    """Step 2 for the edges (member, partner, kind) whose members are in file `member_file`."""
    rows = edges[:, 0] & 0xFFFFFFFF
    uniq, inv = np.unique(rows, return_inverse=True)
    mine, my_keys = _rows(read, files[member_file], uniq)
    out = []
    partner_file = edges[:, 1] >> 32
    for pf in np.unique(partner_file):
        sel = np.flatnonzero(partner_file == pf)
        prow = edges[sel, 1] & 0xFFFFFFFF
        puniq, pinv = np.unique(prow, return_inverse=True)
        theirs, their_keys = _rows(read, files[int(pf)], puniq)
        sims = (mine[inv[sel]] == theirs[pinv]).mean(axis=1)
        for j, i in enumerate(sel):
            out.append(Edge(int(edges[i, 0]), int(edges[i, 1]), int(edges[i, 2]), round(float(sims[j]), 3),
                            my_keys[inv[i]], their_keys[pinv[j]]))
    return out


@dataclass(frozen=True)
class PageDuplicate:
    """A page dropped as a repeat of the kept page `kept`."""

    key: tuple[str, int]
    kept: tuple[str, int]
    kind: str  # "exact" | "near"
    similarity: float  # on the edge that linked it
    via: tuple[str, int]  # the page of that edge (== kept when linked directly)

    @property
    def error_type(self) -> str:
        return f"{self.kind}_duplicate"

    @property
    def reason(self) -> str:
        kept = f"{self.kept[0]} page {self.kept[1]}"
        if self.kind == "exact":
            return f"exact duplicate of {kept} (normalised text)"
        via = "" if self.via == self.kept else f" via {self.via[0]} page {self.via[1]}"
        return f"near-duplicate of {kept} (Jaccard ~{self.similarity:.3f}{via})"


def resolve(edges: Sequence[Edge], threshold: float, own_from: int, exact: bool = True,
            near: bool = True) -> list[PageDuplicate]:
    """Step 3; duplicates sorted by key."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    keys: dict[int, tuple[str, int]] = {}
    link: dict[int, Edge] = {}  # per member: the edge that links it (exact first, then the most similar)
    for e in sorted(edges, key=lambda e: (e.member, e.kind, -e.similarity, e.partner)):
        if not (exact if e.kind == EXACT else near and e.similarity >= threshold):
            continue
        keys[e.member], keys[e.partner] = e.member_key, e.partner_key
        link.setdefault(e.member, e)
        a, b = root(e.member), root(e.partner)
        if a != b:
            parent[max(a, b)] = min(a, b)
    out = []
    for m, e in link.items():
        r = root(m)
        if m >> 32 < own_from or r == m:
            continue
        kind = "exact" if e.kind == EXACT and e.partner == r else "near"  # exact of a page that is itself dropped: near
        out.append(PageDuplicate(keys[m], keys[r], kind, e.similarity, keys[e.partner]))
    return sorted(out, key=lambda d: d.key)
