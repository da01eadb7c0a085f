"""SplitDocuments alone: balanced page ranges that PdfPages renders exactly once each."""
from __future__ import annotations

from pathlib import Path

import pymupdf

from operators.docs.pdf_pages import PdfPages
from operators.docs.split import SplitDocuments, SplitDocumentsConfig


def _row(path: Path, kind: str = "pdf") -> dict:
    return dict(input_id=path.stem, source=str(path), shard_id=0, seq=0, kind=kind)


def _pdf(path: Path, pages: int) -> Path:
    doc = pymupdf.open()
    for i in range(pages):
        doc.new_page().insert_text((72, 72), f"This is page number {i} of a generated document.", fontsize=14)
    doc.save(path, no_new_id=True)
    return path


def test_units_cover_every_page_once(tmp_path: Path) -> None:
    units = SplitDocuments(SplitDocumentsConfig(pages_per_unit=4))([_row(_pdf(tmp_path / "d.pdf", 14))]).to_pylist()
    assert [(u["page_start"], u["page_stop"]) for u in units] == [(0, 4), (4, 8), (8, 12), (12, 14)]
    pages = PdfPages()(units).to_pylist()
    assert [p["page_index"] for p in pages] == list(range(14))
    assert all(f"page number {p['page_index']} " in p["regions"][0]["text"] for p in pages)


def test_unopenable_inputs_pass_whole_for_pdfpages_to_quarantine(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7 this is not a pdf")
    units = SplitDocuments()([_row(bad)]).to_pylist()
    assert len(units) == 1 and units[0]["page_start"] is None and units[0]["error_type"] is None
    out = PdfPages()(units).to_pylist()
    assert len(out) == 1 and out[0]["error_category"] == "quarantine" and out[0]["error_stage"] == "render"
