"""OcrRegions and RegionFilter alone (no Ray): OCR of pages without a text layer, region and page filters."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from doc_pages import input_row, two_column_page, two_column_pdf  # noqa: F401  (fixtures)

from operators.docs.filters import RegionFilter
from operators.docs.layer_check import LayerCheckConfig
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.page_image import page_pixels, pixel_columns
from operators.docs.pdf_pages import PdfPages
from pipelines.demo.texts import ARTICLES
from schemas.tables import FILTERED

# --- OCR -------------------------------------------------------------------------------------------

class FakeBackend:
    def __init__(self) -> None:
        self.calls = 0

    def recognize(self, image: np.ndarray):  # noqa: ANN201 - OcrBackend protocol
        from operators.docs.ocr_backends import OcrLine

        self.calls += 1
        return [OcrLine((10, 10, 200, 30), "first line", 0.9), OcrLine((10, 34, 180, 54), "second line", 0.8),
                OcrLine((300, 10, 500, 30), "other column", 0.95)]


def test_ocr_skips_text_layer_pages_and_groups_lines(two_column_page: dict) -> None:
    backend = FakeBackend()
    op = OcrRegions(OcrRegionsConfig(layer_check=LayerCheckConfig(enabled=False)), backend=backend)
    assert op([two_column_page]).to_pylist()[0]["regions"] == two_column_page["regions"]
    assert backend.calls == 0
    page = {**two_column_page, "has_text_layer": False, "regions": []}
    regions = op([page]).to_pylist()[0]["regions"]
    assert backend.calls == 1
    blocks = sorted((r for r in regions if r["granularity"] == "block"), key=lambda r: r["order"])
    assert [b["text"] for b in blocks] == ["first line\nsecond line", "other column"]
    assert {r["origin"] for r in regions} == {"ocr"}


def test_rapidocr_recovers_words_of_a_scan(tmp_path: Path) -> None:
    from pipelines.demo.documents import generate_demo_corpus

    scan = next(p for p in generate_demo_corpus(tmp_path) if p.name == "scan-01.png")
    page = PdfPages()([input_row(scan, kind="image")]).to_pylist()[0]
    page.update(pixel_columns(page_pixels(page)[: int(page["height"] * 0.45)]))  # title + first paragraph: fewer lines
    regions = OcrRegions()([page]).to_pylist()[0]["regions"]
    title, paragraphs = ARTICLES[10]
    got = {w.strip(".,;").lower() for r in regions if r["granularity"] == "line" for w in r["text"].split()}
    want = {w.strip(".,;").lower() for w in (title + " " + paragraphs[0]).split()}
    assert len(want & got) / len(want) >= 0.8, sorted(want - got)
    assert all(0 <= r["confidence"] <= 1 for r in regions)


# --- filters ---------------------------------------------------------------------------------------

def test_region_filter_drops_bad_regions_and_empty_pages(two_column_page: dict) -> None:
    extra = [
        {"bbox": [0, 0, 2, 2], "text": "tiny", "granularity": "line", "order": 900, "font_size": 1.0, "origin": "ocr", "confidence": 0.9},
        {"bbox": [0, 0, 50, 50], "text": "\x00\x01", "granularity": "line", "order": 901, "font_size": 9.0, "origin": "ocr", "confidence": 0.9},
        {"bbox": [0, 0, 50, 50], "text": "unsure", "granularity": "line", "order": 902, "font_size": 9.0, "origin": "ocr", "confidence": 0.1},
    ]
    page = {**two_column_page, "regions": two_column_page["regions"] + extra}
    kept = RegionFilter()([page]).to_pylist()[0]["regions"]
    assert len(kept) == len(two_column_page["regions"])
    for g in ("line", "block"):
        assert sorted(r["order"] for r in kept if r["granularity"] == g) == list(range(sum(r["granularity"] == g for r in kept)))
    empty = RegionFilter()([{**two_column_page, "regions": extra}]).to_pylist()[0]
    assert (empty["error_category"], empty["error_type"]) == (FILTERED, "too_little_text")


