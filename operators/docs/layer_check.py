"""Text layers checked against the pixels: is a page's text layer the text the page shows?

`LayerChecker.verdict(row, image)` returns None when the page's text layer can be trusted, else why not:
- "unmapped_layer": more than `max_unmapped_share` of its text-layer lines were dropped as unmapped
  (no ToUnicode: CID or glyph ids, U+FFFD, private use; counted by `operators.docs.text_regions`);
- "layer_mismatch": OCR of a few of its lines disagrees with their text. Which pages are read back:
  `read_back` "always" every group's first pages; "suspect" (default) only pages whose text layer does
  not look like text (`plausible`: words run together, symbol soup, odd vowel share or many accented
  letters in Latin text: what broken encodings produce), as the read-back costs more than a render
  (measured ~28 ms CPU for one line crop against ~10 ms to render a page); "never". Pages are checked in groups
  of `pages_per_check` consecutive pages of a document: the first `checked_pages` text-layer pages of
  a group are read back, `lines_per_page` lines spread over each page, each cropped to at most
  `max_crop_ratio` times its height (the recogniser's cost grows with width) and compared, case and
  spaces ignored, with the best-matching prefix of the line's text; they disagree when the median
  character error rate (CER) exceeds `max_cer`. The other pages of the group take the verdict of the
  checked ones (broken encodings belong to a document's fonts), so OCR reads a few lines per group,
  not every page. Pages arrive in order within a page range (`operators.docs.split`); the docs
  pipeline makes `pages_per_check` divide the range size, so the same page always decides a group.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np

from corpus.config_types import AT_LEAST_ONE, FRACTION, bounded
from operators.docs.page_image import as_rgb
from operators.docs.unicode_text import normalise

Recognize = Callable[[list[np.ndarray]], list[tuple[str, float]]]


@dataclass
class LayerCheckConfig:
    """When a page's text layer is replaced by OCR (or the page dropped)."""

    enabled: bool = True
    read_back: str = "suspect"  # which pages' lines OCR reads back: "suspect" | "always" | "never"
    max_unmapped_share: float = bounded(0.2, FRACTION)  # share of text-layer lines dropped as unmapped
    pages_per_check: int = bounded(8, AT_LEAST_ONE)  # consecutive pages of a document that share one verdict
    checked_pages: int = 1  # text-layer pages of each group whose lines are read back by OCR
    lines_per_page: int = 3
    min_line_chars: int = 6  # lines shorter than this are not sampled
    max_crop_ratio: float = 10.0  # crop width at most this many times its height
    max_cer: float = 0.35  # median CER of the sampled lines above which the layer disagrees
    on_mismatch: str = "ocr"  # "ocr": OCR the page instead of its layer | "filter": drop the page


def prefix_cer(read: str, truth: str, lo: int, hi: int) -> float:
    """Smallest CER of `read` against a prefix of `truth` of length lo..hi (edit distance / prefix length)."""
    if not truth:
        return 0.0 if not read else 1.0
    prev = list(range(len(truth) + 1))  # distances of read[:0] to every prefix of truth
    for i, c in enumerate(read, 1):
        cur = [i] + [0] * len(truth)
        for j, t in enumerate(truth, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (c != t))
        prev = cur
    lo, hi = max(1, lo), max(1, min(hi, len(truth)))
    return min(prev[j] / j for j in range(min(lo, hi), hi + 1))


_VOWELS = set("aeiouyAEIOUY")
_LATIN1_COMMON = set("«»°§·¿¡£\u00a0")


def plausible(texts: list[str]) -> bool:
    """Whether text-layer lines look like natural text (True when there is too little to judge, or the
    script is not Latin: the statistics below are those of Latin-script languages). Counted over the
    distinct characters (`Counter` runs in C), not character by character: a page has a few thousand
    characters but only dozens of distinct ones."""
    text = " ".join(texts)
    counts = [(c, n) for c, n in Counter(text).items() if not c.isspace()]
    chars = sum(n for _, n in counts)
    if chars < 20:
        return True
    if sum(n for c, n in counts if c.isalnum()) < 0.6 * chars:
        return False  # symbol soup
    letters = [(c, n) for c, n in counts if c.isalpha()]
    n_letters = sum(n for _, n in letters)
    ascii_letters = sum(n for c, n in letters if c.isascii())
    latin = sum(n for c, n in letters if "\u0080" <= c <= "\u024f")
    if ascii_letters + latin < 0.8 * n_letters:
        return True  # another script: nothing to compare with
    odd = sum(n for c, n in counts if "\u0080" <= c <= "\u00bf" and c not in _LATIN1_COMMON)  # "Ã©": UTF-8 read as Latin-1
    if latin > 0.4 * n_letters or odd > 0.02 * chars or text.count(" ") < 0.06 * len(text):
        return False  # mojibake accents and signs, or words run together
    vowels = sum(n for c, n in letters if c in _VOWELS) / max(1, ascii_letters)
    return 0.25 <= vowels <= 0.6


class LayerChecker:
    """Per-document verdicts on text layers; see the module docstring."""

    def __init__(self, config: LayerCheckConfig, recognize: Callable[[], Recognize]) -> None:
        self.config = config
        self._recognize = recognize  # resolved lazily: the OCR engine loads only when a check runs
        self.group: tuple[str, int] | None = None  # the group of pages being checked, and its page CERs
        self.cers: list[float] = []

    def _sample(self, lines: list[dict[str, Any]], image: np.ndarray) -> list[float]:
        cfg = self.config
        lines = [r for r in lines if len(normalise(r["text"])) >= cfg.min_line_chars]
        if not lines:
            return []
        n = min(cfg.lines_per_page, len(lines))
        picked = [lines[int((k + 0.5) * len(lines) / n)] for k in range(n)]
        h, w = image.shape[:2]
        crops, spans = [], []
        for r in picked:
            x0, y0, x1, y1 = r["bbox"]
            pad = 0.15 * (y1 - y0)
            ya, yb = max(0, int(y0 - pad)), min(h, int(np.ceil(y1 + pad)))
            xa, xb = max(0, int(x0 - pad)), min(w, int(np.ceil(x1 + pad)))
            xb_cut = min(xb, xa + int(cfg.max_crop_ratio * (yb - ya)))
            crops.append(as_rgb(image[ya:yb, xa:xb_cut]))
            spans.append((xb_cut - xa) / max(xb - xa, 1))
        reads = self._recognize()(crops)
        cers = []
        for r, share, (read, _) in zip(picked, spans, reads):
            truth = normalise(r["text"])
            expect = len(truth) * share
            lo, hi = (len(truth), len(truth)) if share >= 1 else (int(0.8 * expect), int(np.ceil(1.2 * expect)))
            cers.append(prefix_cer(normalise(read), truth, lo, hi))
        return cers

    def verdict(self, row: dict[str, Any], image: np.ndarray) -> str | None:
        """None when the text layer of the page in `row` can be trusted, else the reason it cannot."""
        cfg = self.config
        lines = [r for r in row.get("regions") or [] if r["granularity"] == "line"]
        unmapped = dict(row.get("rejected_regions") or {}).get("unmapped", 0)
        if unmapped > cfg.max_unmapped_share * (unmapped + len(lines)):
            return "unmapped_layer"
        group = (row["input_id"], (row.get("page_index") or 0) // max(1, cfg.pages_per_check))
        if group != self.group:
            self.group, self.cers = group, []
        suspect = cfg.read_back == "always" or (cfg.read_back == "suspect" and not plausible([r["text"] for r in lines]))
        if suspect and len(self.cers) < cfg.checked_pages and (cers := self._sample(lines, image)):
            self.cers.append(median(cers))
        return "layer_mismatch" if self.cers and median(self.cers) > cfg.max_cer else None
