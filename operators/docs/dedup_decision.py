"""The keep rule of page dedup: measured links (`operators.dedup`) joined into groups of repeated pages.

`resolve(edges, threshold, own_from)`: exact edges and near edges at or above `threshold` (estimated
Jaccard) joined into groups (union-find); the earliest page of a group is kept and every other page of
this corpus (file >= `own_from`) is a duplicate of it. Chains are followed: a page can be dropped through a
page it resembles that resembles the kept one (as datatrove's and NeMo Curator's connected components).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from operators.dedup.buckets import EXACT
from operators.dedup.verify import Edge


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
    """The duplicate pages, sorted by key (see the module docstring)."""
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
