"""Step 2 of a dedup decision: each candidate link measured on the two items' signatures.

`verify_edges(read, files, member_file, edges, measure)`: for the candidate edges (member, partner, kind)
whose members are in file `member_file`, an `Edge` with the measure of the two signatures and both items'
keys; a task reads the member's file and the rows it needs of the partners' files, never more. Measures:
`JACCARD` (pages: the share of equal MinHash values, the estimated Jaccard similarity of the shingle sets;
keys: input id and page) and `HAMMING` (images: bits that differ between the pHashes; key: input id).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from operators.dedup.buckets import ReadColumns


@dataclass(frozen=True)
class Edge:
    """A measured candidate: `member` (later) resembles `partner` (earlier)."""

    member: int  # packed id (`operators.dedup.buckets.pack`)
    partner: int
    kind: int  # EXACT | NEAR
    similarity: float  # the measure: estimated Jaccard (pages) or Hamming distance (images)
    member_key: tuple[Any, ...]  # (input id, page) | (input id,)
    partner_key: tuple[Any, ...]


def share_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the share of equal values of two (rows, values) MinHash matrices."""
    return (a == b).mean(axis=1)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the bits that differ between two uint64 hash vectors."""
    return np.bitwise_count(a ^ b).astype(np.float64)


@dataclass(frozen=True)
class Measure:
    """The signature column a kind's links are measured on, how, and the key columns of an item."""

    column: str
    keys: tuple[str, ...]
    score: Callable[[np.ndarray, np.ndarray], np.ndarray]


JACCARD = Measure("minhash", ("input_id", "page_index"), share_equal)
HAMMING = Measure("phash", ("input_id",), hamming)


def _rows(read: ReadColumns, name: str, rows: np.ndarray, measure: Measure) -> tuple[np.ndarray, list[tuple]]:
    t = read(name, [*measure.keys, measure.column]).take(pa.array(rows))
    col = t.column(measure.column)
    if pa.types.is_list(col.type):
        values = np.asarray(col.to_pylist(), dtype=np.uint32).reshape(len(rows), -1)
    else:
        values = col.to_numpy(zero_copy_only=False).astype(np.uint64)
    return values, list(zip(*(t.column(k).to_pylist() for k in measure.keys)))


def verify_edges(read: ReadColumns, files: Sequence[str], member_file: int, edges: np.ndarray,
                 measure: Measure) -> list[Edge]:
    """Step 2 for the edges (member, partner, kind) whose members are in file `member_file`."""
    rows = edges[:, 0] & 0xFFFFFFFF
    uniq, inv = np.unique(rows, return_inverse=True)
    mine, my_keys = _rows(read, files[member_file], uniq, measure)
    out = []
    partner_file = edges[:, 1] >> 32
    for pf in np.unique(partner_file):
        sel = np.flatnonzero(partner_file == pf)
        puniq, pinv = np.unique(edges[sel, 1] & 0xFFFFFFFF, return_inverse=True)
        theirs, their_keys = _rows(read, files[int(pf)], puniq, measure)
        scores = measure.score(mine[inv[sel]], theirs[pinv])
        for j, i in enumerate(sel):
            out.append(Edge(int(edges[i, 0]), int(edges[i, 1]), int(edges[i, 2]), round(float(scores[j]), 3),
                            my_keys[inv[i]], their_keys[pinv[j]]))
    return out
