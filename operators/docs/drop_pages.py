"""DropDuplicatePages: drop the pages the page-dedup decision marks (`pipelines.dedup.pages`).

Contract: input and output PAGE_SCHEMA rows; a page whose (input id, page index) the decision lists is
rejected with category `duplicate`, error_type `exact_duplicate` | `near_duplicate` and a message naming
the kept page it repeats; every other page passes unchanged. It runs after OCR, so the pages a document
keeps are read exactly as in a build without duplicates (a text-layer verdict is shared by a group of pages).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from operators.base import Operator, Reject, Row
from schemas.tables import DUPLICATE, PAGE_SCHEMA


@dataclass
class DropDuplicatePagesConfig:
    """The decision: input id → {page index: (error type, reason)} of every page to drop."""

    pages: dict[str, dict[int, tuple[str, str]]] = field(default_factory=dict)


class DropDuplicatePages(Operator):
    """Drop decided duplicate pages with their reason; see the module docstring."""

    stage = "page_dedup"
    reads = ("input_id", "page_index")
    keeps_input = True
    output_schema = PAGE_SCHEMA

    def __init__(self, config: DropDuplicatePagesConfig | None = None) -> None:
        super().__init__()
        self.pages = (config or DropDuplicatePagesConfig()).pages

    def process(self, row: Row) -> Iterator[Row]:
        hit = self.pages.get(row["input_id"], {}).get(row["page_index"])
        if hit is not None:
            raise Reject(hit[1], DUPLICATE, error_type=hit[0])
        yield row
