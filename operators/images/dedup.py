"""Global, deterministic image deduplication: exact (sha256) and near (pHash Hamming distance).

Deciding is order-dependent, so it is done once, on the driver, over every image's fingerprint in
input-id order (`decide_duplicates`): the first image of a group is kept, every later one that repeats a
kept image is marked with the kept image's id and why. `DropDuplicates` then drops the marked inputs in
the build with category `duplicate`, so each appears in the error table with its reason.

Near-duplicate search uses multi-index hashing: with threshold t the 64 bits are cut into t + 1 bands;
two hashes within distance t agree exactly on at least one band (pigeonhole), so only images sharing a
band value are compared. Cost stays near-linear in the number of images.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from operators.base import Operator, Reject, Row
from schemas.tables import DUPLICATE, INPUT_SCHEMA

HASH_BITS = 64


@dataclass
class DedupConfig:
    """Knobs of the duplicate decision [ours]."""

    exact: bool = True  # drop byte-identical files
    near: bool = True  # drop images whose pHash is within `max_hamming` bits of a kept one
    max_hamming: int = 4  # of 64 bits; recompressed or resized copies land within ~0-4


@dataclass(frozen=True)
class Fingerprint:
    """What the decision needs of one image."""

    input_id: str
    sha256: str
    phash: int


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


class DedupIndex:
    """Kept images, queried for exact and near repeats; `add` decides one image at a time."""

    def __init__(self, cfg: DedupConfig) -> None:
        if not 0 <= cfg.max_hamming < HASH_BITS:
            raise ValueError(f"max_hamming must be in 0..{HASH_BITS - 1}, got {cfg.max_hamming}")
        self.cfg = cfg
        n = cfg.max_hamming + 1
        edges = [round(i * HASH_BITS / n) for i in range(n + 1)]
        self._bands = [(lo, (1 << (hi - lo)) - 1) for lo, hi in zip(edges, edges[1:])]
        self._by_sha: dict[str, str] = {}
        self._buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
        self._kept: list[tuple[str, int]] = []

    def _near(self, phash: int) -> tuple[str, int] | None:
        """(kept id, distance) of the closest kept image within the threshold (earliest on ties)."""
        candidates: set[int] = set()
        for b, (shift, mask) in enumerate(self._bands):
            candidates.update(self._buckets.get((b, (phash >> shift) & mask), ()))
        best = min(((self._kept[k][1] ^ phash).bit_count(), k) for k in candidates) if candidates else None
        if best is None or best[0] > self.cfg.max_hamming:
            return None
        return self._kept[best[1]][0], best[0]

    def add(self, fp: Fingerprint) -> Duplicate | None:
        """None when `fp` is kept (and indexed), else the `Duplicate` it is of an earlier kept image."""
        if self.cfg.exact and fp.sha256 in self._by_sha:
            return Duplicate(fp.input_id, self._by_sha[fp.sha256], "exact", 0)
        if self.cfg.near:
            hit = self._near(fp.phash)
            if hit is not None:
                return Duplicate(fp.input_id, hit[0], "near", hit[1])
        self._by_sha.setdefault(fp.sha256, fp.input_id)
        k = len(self._kept)
        self._kept.append((fp.input_id, fp.phash))
        for b, (shift, mask) in enumerate(self._bands):
            self._buckets[(b, (fp.phash >> shift) & mask)].append(k)
        return None


def decide_duplicates(fingerprints: Iterable[Fingerprint], cfg: DedupConfig) -> dict[str, Duplicate]:
    """Duplicates among `fingerprints`, decided in input-id order (the first of a group is kept)."""
    index = DedupIndex(cfg)
    out: dict[str, Duplicate] = {}
    for fp in sorted(fingerprints, key=lambda f: f.input_id):
        dup = index.add(fp)
        if dup is not None:
            out[fp.input_id] = dup
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
