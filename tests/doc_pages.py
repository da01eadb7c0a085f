"""Document test pages shared by the document operator tests: input rows and a rendered two-column page."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest

from operators.docs.page_image import as_rgb, page_pixels
from operators.docs.pdf_pages import PdfPages

LEFT = "Left column paragraph number {i} talks about rivers and mountains in detail."
RIGHT = "Right column paragraph number {i} talks about stars and planets at length."


def input_row(source: Path | str, kind: str = "pdf", input_id: str | None = None) -> dict:
    return {"input_id": input_id or Path(source).name, "source": str(source), "shard_id": 0, "seq": 0, "kind": kind}


@pytest.fixture(scope="module")
def two_column_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A letter page: a full-width title, then two columns of four paragraphs each."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 80), "A Two Column Test Page With A Long Spanning Title", fontname="hebo", fontsize=18)
    for i in range(4):
        for x, template in ((72, LEFT), (324, RIGHT)):
            rect = pymupdf.Rect(x, 120 + i * 150, x + 216, 250 + i * 150)
            assert page.insert_textbox(rect, template.format(i=i), fontname="tiro", fontsize=11) >= 0
    path = tmp_path_factory.mktemp("pdf") / "two-column.pdf"
    doc.save(path, no_new_id=True)
    return path


@pytest.fixture(scope="module")
def two_column_page(two_column_pdf: Path) -> dict:
    rows = PdfPages()([input_row(two_column_pdf)]).to_pylist()
    assert len(rows) == 1 and rows[0]["error_type"] is None
    return rows[0]


def decode(row: dict) -> np.ndarray:
    return as_rgb(page_pixels(row))


