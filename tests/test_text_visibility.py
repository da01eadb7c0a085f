"""Only visible, clean text becomes a target: hidden, covered, clipped, tiny and mis-encoded text on
small PDFs made here, checked through the real operators (PyMuPDF render, RapidOCR where it reads)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest

from operators.docs.filters import RegionFilter
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.ocr_gate import OcrGateConfig
from operators.docs.ocr_backends import OcrLine
from operators.docs.pdf_pages import PdfPages
from operators.docs.unicode_text import clean_text

VISIBLE = "Visible black words here"


def pdf_row(path: Path) -> dict:
    return {"input_id": path.stem, "source": str(path), "kind": "pdf", "shard_id": 0, "seq": 0}


def pages(path: Path) -> list[dict]:
    return list(PdfPages().run_rows([pdf_row(path)]))


def line_texts(row: dict) -> list[str]:
    return [r["text"] for r in sorted(row["regions"], key=lambda r: r["order"]) if r["granularity"] == "line"]


def solid_pixmap(rgb: tuple[int, int, int]) -> pymupdf.Pixmap:
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 10))
    pix.set_rect(pix.irect, rgb)
    return pix


@pytest.fixture(scope="module")
def hiding_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One visible line, then every way a text layer hides text, then text on backgrounds drawn first."""
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=360)
    page.insert_text((20, 30), VISIBLE, fontsize=11)
    page.insert_text((20, 60), "Invisible render mode three", fontsize=11, render_mode=3)
    page.insert_text((20, 90), "White text on white paper", fontsize=11, color=(1, 1, 1))
    page.insert_text((20, 120), "Hidden under a rectangle", fontsize=11)
    page.draw_rect(pymupdf.Rect(15, 105, 250, 125), color=None, fill=(0.2, 0.5, 0.8))  # drawn after: covers
    page.insert_text((20, 150), "Hidden under an image", fontsize=11)
    page.insert_image(pymupdf.Rect(15, 137, 250, 155), pixmap=solid_pixmap((200, 30, 30)), keep_proportion=False)
    page.insert_text((20, 180), "tiny print nobody reads", fontsize=2)
    page.insert_text((20, 210), "Fully transparent words", fontsize=11, fill_opacity=0.0)
    page.draw_rect(pymupdf.Rect(15, 225, 250, 245), color=None, fill=(0.9, 0.9, 0.6))  # drawn before: a shading
    page.insert_text((20, 240), "Text on a shaded cell", fontsize=11)
    page.insert_image(pymupdf.Rect(15, 255, 250, 275), pixmap=solid_pixmap((250, 240, 200)), keep_proportion=False)
    page.insert_text((20, 270), "Text on a background image", fontsize=11)
    page.insert_text((20, 300), "Stroked outline letters", fontsize=11, render_mode=1)
    page.insert_text((20, 1000), "Far below the page", fontsize=11)
    path = tmp_path_factory.mktemp("vis") / "hiding.pdf"
    doc.save(path, no_new_id=True)
    return path


def test_only_text_a_reader_sees_becomes_a_region(hiding_pdf: Path) -> None:
    (row,) = pages(hiding_pdf)
    assert line_texts(row) == [VISIBLE, "Text on a shaded cell", "Text on a background image", "Stroked outline letters"]
    assert row["rejected_regions"] == {"invisible": 2, "low_contrast": 2, "covered": 1, "too_small": 1}
    blocks = [r["text"] for r in row["regions"] if r["granularity"] == "block"]
    assert not any("Hidden" in b or "White" in b or "Invisible" in b for b in blocks)
    assert row["text_path"] == "text_layer" and len(row["image_boxes"]) == 2


def test_checks_off_keeps_every_drawn_span(hiding_pdf: Path) -> None:
    from operators.docs.pdf_pages import PdfPagesConfig
    from operators.docs.visibility import VisibilityConfig

    (row,) = PdfPages(PdfPagesConfig(visibility=VisibilityConfig(enabled=False))).run_rows([pdf_row(hiding_pdf)])
    assert "Invisible render mode three" in line_texts(row) and "Hidden under an image" in line_texts(row)


class ListBackend:
    """An OCR backend that returns fixed lines (the OCR engine itself is tested with RapidOCR below)."""

    def __init__(self, lines: list[OcrLine]) -> None:
        self.lines, self.calls = lines, 0

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        self.calls += 1
        return self.lines

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        raise AssertionError("no layer check expected")


def test_hidden_ocr_layer_of_a_scan_is_replaced_by_ocr(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=300, height=200)
    page.insert_image(page.rect, pixmap=solid_pixmap((255, 255, 255)))
    page.insert_text((20, 40), "the scan's hidden OCR layer text", fontsize=12, render_mode=3)
    doc.save(tmp_path / "scan.pdf", no_new_id=True)
    (row,) = pages(tmp_path / "scan.pdf")
    assert not row["has_text_layer"] and row["rejected_regions"] == {"invisible": 1}
    backend = ListBackend([OcrLine((10, 10, 300, 40), "what the pixels show, read by OCR", 0.9)])
    no_gate = OcrRegionsConfig(gate=OcrGateConfig(enabled=False))  # the white page has no ink: the gate would skip it
    (out,) = OcrRegions(no_gate, backend=backend).run_rows([row])
    assert out["text_path"] == "ocr" and line_texts(out) == ["what the pixels show, read by OCR"]


def test_page_with_only_unseen_text_is_filtered_with_the_reasons(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=300, height=200)
    for k in range(4):
        page.insert_text((20, 40 + 30 * k), f"white line number {k} of this page", fontsize=12, color=(1, 1, 1))
    doc.save(tmp_path / "white.pdf", no_new_id=True)
    (row,) = pages(tmp_path / "white.pdf")
    (row,) = OcrRegions(backend=ListBackend([])).run_rows([row])
    (err,) = RegionFilter().run_rows([row])
    assert err["error_category"] == "filtered" and err["error_type"] == "too_little_visible_text"
    assert "low_contrast 4" in err["error_message"]


def test_rotated_and_clipped_pages_keep_only_visible_lines(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=200)
    page.insert_text((20, 40), "Rotated visible words", fontsize=14)
    page.insert_text((20, 80), "Rotated hidden words", fontsize=14, render_mode=3)
    page.set_rotation(90)
    src = pymupdf.open()
    sp = src.new_page(width=400, height=200)
    sp.insert_text((20, 40), "Top line stays in view", fontsize=14)
    sp.insert_text((20, 150), "Bottom line is clipped away", fontsize=14)
    clipped = doc.new_page(width=400, height=100)
    clipped.show_pdf_page(clipped.rect, src, 0, clip=pymupdf.Rect(0, 0, 400, 100))
    cropped = doc.new_page(width=400, height=200)
    cropped.insert_text((20, 40), "Inside the crop box", fontsize=14)
    cropped.insert_text((20, 180), "Outside the crop box", fontsize=14)
    cropped.set_cropbox(pymupdf.Rect(0, 0, 400, 100))
    doc.save(tmp_path / "rot.pdf", no_new_id=True)
    rotated, clip, crop = pages(tmp_path / "rot.pdf")
    assert line_texts(rotated) == ["Rotated visible words"] and rotated["rejected_regions"] == {"invisible": 1}
    assert (rotated["width"], rotated["height"]) == (400, 800)
    assert all(0 <= r["bbox"][0] <= r["bbox"][2] <= 400 and 0 <= r["bbox"][1] <= r["bbox"][3] <= 800 for r in rotated["regions"])
    assert line_texts(clip) == ["Top line stays in view"]
    assert line_texts(crop) == ["Inside the crop box"]


def test_targets_are_clean_logical_unicode(tmp_path: Path) -> None:
    assert clean_text("ﬁnd the ﬂow\ue000") == ("find the flow", 1)
    assert clean_text("ﻣﺮﺣﺒﺎ")[0] == "مرحبا"  # Arabic presentation forms -> letters
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_htmlbox(pymupdf.Rect(50, 50, 400, 100), "<p dir='rtl'>שלום עולם טוב</p>")
    page.insert_htmlbox(pymupdf.Rect(50, 190, 400, 240), "<p>ﬁnd the ﬂow of ﬁve ﬁelds</p>")
    doc.save(tmp_path / "u.pdf", no_new_id=True)
    (row,) = pages(tmp_path / "u.pdf")
    assert line_texts(row) == ["שלום עולם טוב", "find the flow of five fields"]  # logical order, NFKC


def test_covered_check_follows_page_rotation(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=200)
    page.insert_image(pymupdf.Rect(10, 20, 300, 50), pixmap=solid_pixmap((250, 240, 200)), keep_proportion=False)
    page.insert_text((20, 40), "Text on a background image", fontsize=14)
    page.insert_text((20, 100), "Text under a later image", fontsize=14)
    page.insert_image(pymupdf.Rect(10, 80, 300, 110), pixmap=solid_pixmap((250, 240, 200)), keep_proportion=False)
    page.set_rotation(90)
    doc.save(tmp_path / "rotimg.pdf", no_new_id=True)
    (row,) = pages(tmp_path / "rotimg.pdf")
    assert line_texts(row) == ["Text on a background image"] and row["rejected_regions"] == {"covered": 1}
