"""The keep rule of image dedup and the operator that drops the images it marks.

Exact repeats share the first 64 bits of the file's sha256; near repeats have pHashes within
`max_hamming` bits. The measured links come from the shared decision steps (`operators.dedup`: the pHash
cut into `max_hamming + 1` slices, so every pair within the distance is a candidate).

`resolve_first_kept(edges, cfg, own_from)`: images in input order (packed id order); an image is kept
unless it repeats an image kept before it: exactly (the earliest such, reason naming it and `sha256`),
else nearly (the closest, the earliest on ties; reason naming it and the distance). A dropped image keeps
nothing: a later image is compared with kept images only, never dropped through a dropped one. Images of
another corpus (file < `own_from`) are kept, never dropped. `DropDuplicates` then drops the marked inputs
in the build with category `duplicate`, so each appears in the error table with its reason.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from corpus.config_types import AT_LEAST_ONE, Bounds, bounded
from operators.base import Operator, Reject, Row
from operators.dedup.buckets import EXACT, HASH_BITS, NEAR
from operators.dedup.verify import Edge
from schemas.tables import DUPLICATE, INPUT_SCHEMA


@dataclass
class DedupConfig:
    """Knobs of the duplicate decision [ours]."""

    exact: bool = True  # drop byte-identical files
    near: bool = True  # drop images whose pHash is within `max_hamming` bits of a kept one
    max_hamming: int = bounded(4, Bounds(0, HASH_BITS - 1))  # of 64 bits; recompressed or resized copies: ~0-4
    # band values a decision task holds at most (a pHash slice or the exact hash, with an image id and pHash)
    values_per_task: int = bounded(4_000_000, AT_LEAST_ONE)
    against: tuple[str, ...] = ()  # other corpora (DIR or URL) whose images count as kept before this one's


@dataclass(frozen=True)
class Duplicate:
    """An image dropped as a repeat of `kept_id`."""

    input_id: str
    kept_id: str
    kind: str  # "exact" | "near"
    distance: int  # Hamming distance of the pHashes (0 for exact)

    @property
    def error_type(self) -> str:
        return f"{self.kind}_duplicate"

    @property
    def reason(self) -> str:
        if self.kind == "exact":
            return f"exact duplicate of {self.kept_id} (sha256)"
        return f"near-duplicate of {self.kept_id} (hamming {self.distance})"


def resolve_first_kept(edges: Sequence[Edge], cfg: DedupConfig, own_from: int = 0) -> dict[str, Duplicate]:
    """input id → `Duplicate` of every dropped image (see the module docstring)."""
    by_member: dict[int, list[Edge]] = defaultdict(list)
    for e in edges:
        by_member[e.member].append(e)
    dropped: set[int] = set()
    out: dict[str, Duplicate] = {}
    for m in sorted(by_member):  # partners come before members: their fate is known
        if m >> 32 < own_from:
            continue
        live = [e for e in by_member[m] if e.partner not in dropped]
        exact = [e for e in live if cfg.exact and e.kind == EXACT and e.similarity == 0]  # 0: no 64-bit collision
        near = [e for e in live if cfg.near and e.kind == NEAR and e.similarity <= cfg.max_hamming]
        if exact:
            e, kind = min(exact, key=lambda e: e.partner), "exact"
        elif near:
            e, kind = min(near, key=lambda e: (e.similarity, e.partner)), "near"
        else:
            continue
        dropped.add(m)
        out[e.member_key[0]] = Duplicate(e.member_key[0], e.partner_key[0], kind, int(e.similarity))
    return out


@dataclass
class DropDuplicatesConfig:
    """The decision: input id → (error type, reason) for every input to drop."""

    duplicates: dict[str, tuple[str, str]]

    @staticmethod
    def from_decision(decision: dict[str, Duplicate]) -> "DropDuplicatesConfig":
        return DropDuplicatesConfig({k: (d.error_type, d.reason) for k, d in sorted(decision.items())})


class DropDuplicates(Operator):
    """Input rows → same: drops the inputs the decision marks, with category `duplicate` and its reason."""

    stage = "dedup"
    reads = ("input_id",)
    keeps_input = True
    output_schema = INPUT_SCHEMA

    def __init__(self, config: DropDuplicatesConfig) -> None:
        super().__init__()
        self.duplicates = config.duplicates

    def process(self, row: Row) -> Iterable[Row]:
        hit = self.duplicates.get(row["input_id"])
        if hit is not None:
            raise Reject(hit[1], DUPLICATE, error_type=hit[0])
        yield row
