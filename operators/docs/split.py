"""SplitDocuments: one PDF input → work units of at most `pages_per_unit` pages (DOC_UNIT_SCHEMA).

Balanced units keep a 2,000-page PDF from becoming one straggler task holding every page's samples.
Only what opens cleanly is split: an input that cannot be opened, is encrypted or has no pages passes
through as one unit, and `PdfPages` quarantines it with the canonical reason. Page images are one unit.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pymupdf

from corpus.config_types import AT_LEAST_ONE, bounded
from operators.base import Operator, Row
from operators.docs.file_kind import check_pdf
from operators.docs.pdf_pages import read_source
from schemas.tables import DOC_UNIT_SCHEMA


@dataclass
class SplitDocumentsConfig:
    """Pages per work unit, and the size above which a file is not even read here."""

    pages_per_unit: int = bounded(8, AT_LEAST_ONE)
    max_file_bytes: int = 200 * 1024 * 1024


class SplitDocuments(Operator):
    """Split documents into page ranges; see the module docstring."""

    stage = "split"
    reads = ("source", "kind")
    writes = ("page_start", "page_stop")
    keeps_input = True
    splits_work = True  # page ranges are independent: a shard's fan-out cuts between them
    output_schema = DOC_UNIT_SCHEMA

    def __init__(self, config: SplitDocumentsConfig | None = None) -> None:
        super().__init__()
        self.config = config or SplitDocumentsConfig()

    def process(self, row: Row) -> Iterator[Row]:
        n = self._page_count(row) if row.get("kind") == "pdf" else None
        if not n:
            yield {**row, "page_start": None, "page_stop": None}
            return
        step = max(1, self.config.pages_per_unit)
        for start in range(0, n, step):
            yield {**row, "page_start": start, "page_stop": min(n, start + step)}

    def _page_count(self, row: Row) -> int | None:
        """Pages of a PDF that opens cleanly; None for anything `PdfPages` must judge itself."""
        try:
            data = read_source(row["source"], self.config.max_file_bytes)
            check_pdf(data)
            with pymupdf.open(stream=data, filetype="pdf") as doc:
                return None if doc.needs_pass else doc.page_count
        except Exception:  # noqa: BLE001 - PdfPages reports the reason
            return None
