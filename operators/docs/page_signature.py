"""Page text signatures for deduplication: an exact hash and a MinHash with LSH band hashes.

Contract:
- `normalise(text)`: the page's words, NFKC, case-folded, punctuation and digits-only tokens dropped:
  re-saving, re-flowing, re-hyphenating or renumbering a page does not change them.
- `signature(text, cfg)`: None when the page has fewer than `min_words` words (blank pages, running
  heads: too little to call two pages the same); else its `PageSignature`: `exact` (64 bits of
  blake2b over the normalised words), `minhash` (`bands * rows` values over the set of `shingle`-word
  shingles, rensa's RMinHash with `minhash_seed`: the same text gives the same values in every process) and
  `bands` (64 bits of blake2b over each run of `rows` MinHash values). Two pages whose shingle sets
  have Jaccard similarity J share at least one band with probability 1 - (1 - J^rows)^bands.
- `PageSignatures` (operator): a PDF input → one SIGNATURE row per page of its text layer that has a
  signature; read with PyMuPDF only (no render, ~1 ms a page): the pass that decides duplicates before
  the build costs a small share of it. Pages without a text layer (scans, page images) get none and
  are never dropped as duplicates.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pymupdf

from corpus.config_types import AT_LEAST_ONE, FRACTION, bounded
from operators.base import Operator, Row
from operators.docs.pdf_pages import read_source
from schemas.tables import PAGE_SIGNATURE_SCHEMA

_WORD = re.compile(r"\w+")


@dataclass
class PageDedupConfig:
    """Knobs of page deduplication; defaults measured on the planted set (tests/test_page_dedup.py)."""

    exact: bool = True  # drop pages whose normalised text repeats a kept page's
    near: bool = True  # drop pages whose estimated Jaccard similarity to a kept page is >= threshold
    threshold: float = bounded(0.6, FRACTION)  # of word-shingle sets
    shingle: int = bounded(5, AT_LEAST_ONE)  # words per shingle
    bands: int = bounded(32, AT_LEAST_ONE)  # LSH bands; bands * rows MinHash values per page
    rows: int = bounded(4, AT_LEAST_ONE)  # values per band: J^rows is the chance one band agrees
    min_words: int = bounded(30, AT_LEAST_ONE)  # fewer words: no signature, never a duplicate
    # of the MinHash permutations; not the run seed: signatures must match across builds (--dedup-against)
    minhash_seed: int = 1
    # band values a decision task holds at most (16 bytes each, value and page id; a page has bands + 1):
    # the number of tasks grows with the corpus, the memory of one does not
    values_per_task: int = bounded(4_000_000, AT_LEAST_ONE)
    against: tuple[str, ...] = ()  # other corpora (DIR or URL) whose pages count as kept before this one's

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def knobs(self) -> str:
        """What makes two signatures comparable, as recorded in each signature file's metadata."""
        return f"shingle={self.shingle} bands={self.bands} rows={self.rows} seed={self.minhash_seed} min_words={self.min_words}"


#: no page deduplication: for benchmarks whose inputs repeat the same pages on purpose
NO_DEDUP = PageDedupConfig(exact=False, near=False)


@dataclass(frozen=True)
class PageSignature:
    """What deduplication keeps of one page."""

    words: int
    exact: int  # uint64
    minhash: np.ndarray  # uint32, num_perm values
    bands: list[int]  # uint64 per band


def normalise(text: str) -> list[str]:
    """The words of `text` as deduplication compares them (see the module docstring)."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return [w for w in words if not w.isdigit() and w != "_" * len(w)]


def _h64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def signature(text: str, cfg: PageDedupConfig) -> PageSignature | None:
    """The signature of a page's text, or None when it has fewer than `cfg.min_words` words."""
    import rensa

    words = normalise(text)
    if len(words) < cfg.min_words:
        return None
    k = cfg.shingle
    shingles = sorted({" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))})
    mh = rensa.RMinHash(num_perm=cfg.num_perm, seed=cfg.minhash_seed)
    mh.update(shingles)
    values = np.asarray(mh.digest(), dtype=np.uint32)
    bands = [_h64(values[b * cfg.rows:(b + 1) * cfg.rows].tobytes()) for b in range(cfg.bands)]
    return PageSignature(len(words), _h64(" ".join(words).encode()), values, bands)


def signature_row(input_id: str, page_index: int, sig: PageSignature) -> Row:
    """A row of `PAGE_SIGNATURE_SCHEMA`."""
    return {"input_id": input_id, "page_index": page_index, "words": sig.words, "exact": sig.exact,
            "bands": sig.bands, "minhash": sig.minhash.tolist()}


class PageSignatures(Operator):
    """A PDF input → the signature rows of its text-layer pages; see the module docstring."""

    stage = "page_signature"
    reads = ("input_id", "source", "kind")
    writes = ("page_index", "words", "exact", "bands", "minhash")
    output_schema = PAGE_SIGNATURE_SCHEMA
    max_file_bytes = 200 * 1024 * 1024  # as PdfPages': larger files are quarantined by the build

    def __init__(self, config: PageDedupConfig | None = None) -> None:
        super().__init__()
        self.config = config or PageDedupConfig()

    def process(self, row: Row) -> Iterator[Row]:
        if row.get("kind") != "pdf":
            return
        with pymupdf.open(stream=read_source(row["source"], self.max_file_bytes), filetype="pdf") as doc:
            if doc.needs_pass:
                return
            for i, page in enumerate(doc):
                if (sig := signature(page.get_text("text"), self.config)) is not None:
                    yield signature_row(row["input_id"], i, sig)
