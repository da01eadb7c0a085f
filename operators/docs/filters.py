"""RegionFilter: drop unusable regions, then pages with too little text.

Contract:
- input and output: PAGE_SCHEMA rows.
- a region is dropped when its bbox is smaller than `min_width` x `min_height` pixels, its text is
  empty after removing unprintable characters, less than `min_printable_ratio` of its characters are
  printable, or its confidence (OCR) is below `min_confidence`. Control characters are stripped from
  kept texts; `order` is renumbered per granularity, keeping the sequence.
- the page is rejected (category filtered) when its kept regions hold fewer than `min_page_chars`
  non-space characters (counted over blocks, or lines when a page has no block regions): error_type
  "too_little_visible_text" when text-layer text was left out as unseen (`rejected_regions`, listed in
  the message), else "too_little_text".
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from corpus.config_types import FRACTION, bounded
from operators.base import Operator, Reject, Row
from schemas.tables import FILTERED, PAGE_SCHEMA

_UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


@dataclass
class RegionFilterConfig:
    """Thresholds for regions and pages."""

    min_width: float = 4.0
    min_height: float = 4.0
    min_printable_ratio: float = bounded(0.9, FRACTION)
    min_confidence: float = bounded(0.5, FRACTION)
    min_page_chars: int = 30


def printable(text: str) -> tuple[str, float]:
    """`text` without unprintable characters (keeping newlines and tabs), and its printable ratio."""
    if not text:
        return "", 0.0
    if "\ufffd" not in text and text.replace("\n", "").replace("\t", "").isprintable():
        return text.strip(), 1.0  # str.isprintable refuses a superset of _UNPRINTABLE: nothing to drop
    kept = [c for c in text if c in "\n\t" or (unicodedata.category(c) not in _UNPRINTABLE and c != "\ufffd")]
    return "".join(kept).strip(), len(kept) / len(text)


class RegionFilter(Operator):
    """Keep legible regions, reject pages with too little text; see the module docstring."""

    stage = "filter"
    reads = ("regions",)
    reads_if_present = ("rejected_regions", "page_index")  # for the reason of a rejected page
    writes = ("regions",)
    keeps_input = True
    output_schema = PAGE_SCHEMA

    def __init__(self, config: RegionFilterConfig | None = None) -> None:
        super().__init__()
        self.config = config or RegionFilterConfig()

    def _keep(self, region: dict[str, Any]) -> dict[str, Any] | None:
        cfg = self.config
        x0, y0, x1, y1 = region["bbox"]
        if x1 - x0 < cfg.min_width or y1 - y0 < cfg.min_height:
            return None
        text, ratio = printable(region.get("text") or "")
        if not text or ratio < cfg.min_printable_ratio:
            return None
        conf = region.get("confidence")
        if conf is not None and conf < cfg.min_confidence:
            return None
        return {**region, "text": text}

    def process(self, row: Row) -> Iterator[Row]:
        kept = [k for r in row.get("regions") or [] if (k := self._keep(r)) is not None]
        kept.sort(key=lambda r: (r["granularity"], r["order"]))
        rank: Counter[str] = Counter()
        for r in kept:
            r["order"] = rank[r["granularity"]]
            rank[r["granularity"]] += 1
        unit = "block" if rank["block"] else "line"
        n_chars = sum(len("".join(r["text"].split())) for r in kept if r["granularity"] == unit)
        if n_chars < self.config.min_page_chars:
            rejected = dict(row.get("rejected_regions") or {})
            left_out = ", ".join(f"{k} {v}" for k, v in sorted(rejected.items()))
            raise Reject(f"page {row.get('page_index')}: {n_chars} characters of visible text < "
                         f"{self.config.min_page_chars}" + (f" (text left out: {left_out})" if left_out else ""),
                         FILTERED, error_type="too_little_visible_text" if rejected else "too_little_text")
        yield {**row, "regions": kept}
