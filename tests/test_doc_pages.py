"""PdfPages alone (no Ray): rendering, text-layer regions, reading order, guards, the shared fixture PDFs."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from doc_pages import LEFT, RIGHT, decode, input_row, two_column_page, two_column_pdf  # noqa: F401  (fixtures)
from PIL import Image

from operators.docs.filters import RegionFilter
from operators.docs.ocr import OcrRegions
from operators.docs.page_image import page_pixels
from operators.docs.pdf_pages import PdfPages, PdfPagesConfig
from operators.docs.text_regions import reading_order
from schemas.tables import FILTERED, QUARANTINE

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pdfs"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures absent")


# --- rendering and regions -------------------------------------------------------------------------

def test_render_size_follows_dpi_and_pixel_cap(two_column_pdf: Path) -> None:
    row = PdfPages(PdfPagesConfig(dpi=144))([input_row(two_column_pdf)]).to_pylist()[0]
    assert (row["width"], row["height"]) == (1224, 1584)
    assert decode(row).shape == (1584, 1224, 3)
    assert row["dpi"] == pytest.approx(144, abs=0.5) and row["n_pages"] == 1 and row["has_text_layer"]

    capped = PdfPages(PdfPagesConfig(dpi=300, max_pixels=500_000))([input_row(two_column_pdf)]).to_pylist()[0]
    assert capped["width"] * capped["height"] <= 500_000
    assert capped["width"] / capped["height"] == pytest.approx(612 / 792, rel=0.01)
    assert capped["dpi"] == pytest.approx(72 * capped["width"] / 612, rel=1e-3)


def test_regions_inside_page_and_match_text(two_column_page: dict) -> None:
    row = two_column_page
    regions = row["regions"]
    assert {r["granularity"] for r in regions} == {"line", "block"}
    for r in regions:
        x0, y0, x1, y1 = r["bbox"]
        assert 0 <= x0 < x1 <= row["width"] and 0 <= y0 < y1 <= row["height"]
        assert r["origin"] == "text_layer" and r["font_size"] > 0
    blocks = " ".join(r["text"] for r in regions if r["granularity"] == "block").split()
    lines = " ".join(r["text"] for r in regions if r["granularity"] == "line").split()
    assert blocks == lines
    expected = set(" ".join(LEFT.format(i=i) + " " + RIGHT.format(i=i) for i in range(4)).split())
    assert expected <= set(blocks)
    # the title's pixel box matches where it was drawn: x=72pt, baseline 80pt, at 2 pixels per point
    title = next(r for r in regions if r["granularity"] == "line" and r["text"].startswith("A Two Column"))
    assert title["bbox"][0] == pytest.approx(144, abs=2) and title["bbox"][1] < 160 < title["bbox"][3]


def test_pages_without_colour_travel_gray_and_coloured_ones_rgb(two_column_page: dict, tmp_path: Path) -> None:
    assert two_column_page["channels"] == 1  # black text on white
    doc = pymupdf.open()
    for colour in ((0.8, 0.1, 0.1), (0.4, 0.4, 0.4), None):
        page = doc.new_page(width=300, height=200)
        page.insert_text((20, 40), "A line of text long enough to be a page.", fontsize=11)
        if colour:  # a thin stroke: a thumbnail render would blur it to almost grey
            page.draw_line((20, 60), (280, 60), color=colour, width=0.3)
    pil = Image.new("RGB", (64, 64), (20, 120, 200))
    buf = io.BytesIO()
    pil.save(buf, "PNG")
    doc[2].insert_image(pymupdf.Rect(20, 80, 84, 144), stream=buf.getvalue())
    path = tmp_path / "colours.pdf"
    doc.save(path, no_new_id=True)
    rows = PdfPages()([input_row(path)]).to_pylist()
    assert [r["channels"] for r in rows] == [3, 1, 3]  # red stroke, grey stroke, blue photo
    red = page_pixels(rows[0])
    assert (red[..., 0].astype(int) - red[..., 2] > 40).any()
    assert PdfPages(PdfPagesConfig(color="rgb"))([input_row(path)]).to_pylist()[1]["channels"] == 3


def test_reading_order_two_columns_left_first(two_column_page: dict) -> None:
    blocks = sorted((r for r in two_column_page["regions"] if r["granularity"] == "block"), key=lambda r: r["order"])
    texts = [" ".join(b["text"].split()) for b in blocks]
    assert texts[0].startswith("A Two Column")
    expected = [LEFT.format(i=i) for i in range(4)] + [RIGHT.format(i=i) for i in range(4)]
    assert texts[1:] == expected


def test_regions_follow_page_rotation(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 100), "Hello rotated world", fontsize=20)
    page.set_rotation(90)
    doc.save(tmp_path / "rotated.pdf", no_new_id=True)
    row = PdfPages(PdfPagesConfig(dpi=72))([input_row(tmp_path / "rotated.pdf")]).to_pylist()[0]
    assert (row["width"], row["height"]) == (792, 612)
    ink = decode(row).min(axis=2) < 128
    ys, xs = np.nonzero(ink)
    line = next(r for r in row["regions"] if r["granularity"] == "line")
    x0, y0, x1, y1 = line["bbox"]
    assert x0 - 1 <= xs.min() and xs.max() <= x1 + 1 and y0 - 1 <= ys.min() and ys.max() <= y1 + 1


def test_reading_order_table_band_is_row_major() -> None:
    # a full-width paragraph, then a 2x3 grid of short cells: read row by row
    boxes = [(50, 50, 560, 120)] + [(50 + 170 * c, 140 + 20 * r, 200 + 170 * c, 155 + 20 * r) for r in range(2) for c in range(3)]
    assert reading_order(boxes, 792) == [0, 1, 2, 3, 4, 5, 6]


def test_image_input_one_page_no_text_layer_and_bomb_guard(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    Image.new("RGB", (400, 300), "white").save(path)
    row = PdfPages()([input_row(path, kind="image")]).to_pylist()[0]
    assert (row["width"], row["height"], row["has_text_layer"], row["regions"]) == (400, 300, False, [])
    small = PdfPages(PdfPagesConfig(max_pixels=30_000))([input_row(path, kind="image")]).to_pylist()[0]
    assert small["width"] * small["height"] <= 30_000
    bomb = PdfPages(PdfPagesConfig(max_image_pixels=1000))([input_row(path, kind="image")]).to_pylist()[0]
    assert (bomb["error_type"], bomb["error_category"]) == ("TooLarge", QUARANTINE)


def test_guards_quarantine_documents(two_column_pdf: Path, tmp_path: Path) -> None:
    too_big = PdfPages(PdfPagesConfig(max_file_bytes=100))([input_row(two_column_pdf)]).to_pylist()
    assert [(r["error_type"], r["error_category"]) for r in too_big] == [("TooLarge", QUARANTINE)]
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"this is not a pdf at all")
    bad = PdfPages()([input_row(garbage)]).to_pylist()
    assert len(bad) == 1 and bad[0]["error_stage"] == "render" and bad[0]["error_category"] == QUARANTINE


def test_doc_timeout_emits_done_pages_and_a_timeout_row(two_column_pdf: Path) -> None:
    rows = PdfPages(PdfPagesConfig(doc_timeout_s=0.0))([input_row(two_column_pdf)]).to_pylist()
    assert [r["error_type"] for r in rows] == ["Timeout"]
    assert rows[0]["input_id"] == "two-column.pdf" and "0 of pages 0..0 (of 1) done" in rows[0]["error_message"]


# --- fixtures from the shared folder -------------------------------------------------------------

@needs_fixtures
def test_fixture_pdfs_give_pages_or_quarantine_rows() -> None:
    files = sorted(FIXTURES.glob("*.pdf"))
    out = PdfPages()([input_row(p) for p in files]).to_pylist()
    by_doc: dict[str, list[dict]] = {}
    for r in out:
        by_doc.setdefault(r["input_id"], []).append(r)
    assert set(by_doc) == {p.name for p in files}

    tm = by_doc["tracemonkey.pdf"]
    assert len(tm) == 14 and all(r["error_type"] is None and r["has_text_layer"] for r in tm)
    assert [r["page_index"] for r in tm] == list(range(14))

    scan = by_doc["issue14200.pdf"]
    assert len(scan) == 1 and scan[0]["has_text_layer"] is False

    for name, reason in [("encrypted-attachment.pdf", "password"), ("poppler-742-0-fuzzed.pdf", "open"),
                         ("Pages-tree-refs.pdf", "cycle")]:
        errors = [r for r in by_doc[name] if r["error_type"] is not None]
        assert errors, name
        assert all(r["error_category"] == QUARANTINE and r["error_stage"] == "render" for r in errors)
        assert any(reason in r["error_message"] for r in errors), (name, errors)

    # the image-only page goes through OCR: regions (if any) come from OCR; there is no text in it
    ocr = OcrRegions()(scan).to_pylist()[0]
    assert ocr["error_type"] is None and all(r["origin"] == "ocr" for r in ocr["regions"])
    filtered = RegionFilter()([ocr]).to_pylist()[0]
    assert (filtered["error_type"], filtered["error_category"]) == ("too_little_text", FILTERED)
