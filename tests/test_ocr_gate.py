"""OCR only where it can pay (`operators.docs.ocr_gate`, `operators.docs.ocr`): pages skipped before
detection or recognition are exactly pages the page filter drops anyway, with the reason in `ocr_skip`;
scans, sparse scans and text in images are still read; one engine per process."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from doc_pages import input_row

from operators.docs.filters import RegionFilter
from operators.docs.layer_check import LayerCheckConfig
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.ocr_backends import OcrLine, RapidOcrBackend
from operators.docs.ocr_engine import engine, loads
from operators.docs.ocr_gate import BLANK_PAGE, NO_GLYPH_INK, TOO_LITTLE_DETECTED_TEXT, OcrGateConfig, ink_verdict
from operators.docs.page_image import as_rgb, page_pixels, pixel_columns
from operators.docs.pdf_pages import PdfPages

FIXTURE = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "pdfs" / "issue14200.pdf"
MIN_CHARS = OcrGateConfig().min_page_chars


def _render(page: pymupdf.Page) -> np.ndarray:
    pm = page.get_pixmap(dpi=144)
    return np.frombuffer(pm.samples, np.uint8).reshape(pm.h, pm.w, pm.n)[:, :, :3].copy()


def _scan_row(pixels: np.ndarray, name: str) -> dict:
    """A page without a text layer (what a scan renders to) holding `pixels`."""
    return {**input_row(name, kind="image"), "page_index": 0, "n_pages": 1, "dpi": 144.0, "has_text_layer": False,
            "regions": [], **pixel_columns(pixels)}


def _page(draw: Callable[[pymupdf.Page], object]) -> np.ndarray:
    doc = pymupdf.open()
    page = doc.new_page()
    draw(page)
    return _render(page)


def _chart(page: pymupdf.Page) -> None:
    for i in range(6):
        page.draw_rect(pymupdf.Rect(100 + 60 * i, 600 - 70 * i, 140 + 60 * i, 600), color=(0, 0, 0), fill=(0.3, 0.3, 0.8))
    page.draw_line((90, 100), (90, 600))
    page.draw_line((90, 600), (500, 600))
    page.draw_polyline([(100, 500), (200, 300), (300, 400), (400, 200), (500, 250)], color=(1, 0, 0), width=2)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Pixels of scans and of pages that hold no text worth a sample, by name."""
    from pipelines.demo.documents import generate_demo_corpus

    demo = tmp_path_factory.mktemp("demo")
    out: dict[str, np.ndarray] = {}
    for p in generate_demo_corpus(demo):
        if p.name.startswith("scan-"):
            out[p.name] = page_pixels(PdfPages()([input_row(p, kind="image")]).to_pylist()[0])
    out["blank"] = _page(lambda page: None)
    out["chart"] = _page(_chart)
    out["sparse"] = _page(lambda page: page.insert_text((72, 300), "A sparse scan line with forty characters.", fontsize=11))
    out["short"] = _page(lambda page: page.insert_text((72, 300), "Page 3", fontsize=11))
    rng = np.random.default_rng(0)
    out["grey_noise"] = (np.full((1684, 1190), 230, np.uint8) + rng.integers(0, 16, (1684, 1190), dtype=np.uint8))
    if FIXTURE.exists():
        out["issue14200"] = _render(pymupdf.open(FIXTURE)[0])
    return out


def _chars(lines: list[OcrLine]) -> int:
    return sum(len("".join(ln.text.split())) for ln in lines if ln.confidence >= 0.5)


def test_the_ink_gate_skips_only_pages_that_full_ocr_reads_too_little_of(pages: dict[str, np.ndarray]) -> None:
    """Every page the ink gate skips is one that detection + recognition read fewer than min_page_chars
    characters of; every page with enough text is read."""
    backend = RapidOcrBackend()
    verdicts = {name: ink_verdict(px, OcrGateConfig()) for name, px in pages.items()}
    assert verdicts["blank"] == BLANK_PAGE and verdicts["grey_noise"] == BLANK_PAGE and verdicts["chart"] in (BLANK_PAGE, NO_GLYPH_INK)
    assert verdicts["short"] == NO_GLYPH_INK
    assert all(verdicts[n] is None for n in ("scan-01.png", "scan-02.png", "scan-03.png", "sparse"))
    for name, px in pages.items():
        n = _chars(backend.recognize(as_rgb(px)))
        assert (verdicts[name] is None) or n < MIN_CHARS, (name, verdicts[name], n)


def test_skipped_pages_are_dropped_with_their_reason_and_cost(pages: dict[str, np.ndarray]) -> None:
    op = OcrRegions(OcrRegionsConfig(record_seconds=True))
    rows = op([_scan_row(pages[n], n) for n in ("blank", "short", "sparse")]).to_pylist()
    assert [r["ocr_skip"] for r in rows] == [BLANK_PAGE, NO_GLYPH_INK, None]
    assert rows[0]["regions"] == [] and rows[2]["regions"] and all(r["ocr_seconds"] >= 0 for r in rows)
    out = RegionFilter()(rows).to_pylist()
    dropped = [r for r in out if r["error_type"]]
    assert [(r["error_type"], r["ocr_skip"]) for r in dropped] == [("too_little_text", BLANK_PAGE), ("too_little_text", NO_GLYPH_INK)]
    assert all(r["ocr_seconds"] is not None for r in dropped)  # the errors table can sum what they cost
    assert OcrRegions()([_scan_row(pages["sparse"], "s")]).to_pylist()[0]["ocr_seconds"] is None  # off by default


class StagedBackend:
    """A detector that finds one short line; reading it must not happen."""

    def __init__(self) -> None:
        self.reads = 0

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        return [np.array([[100, 100], [160, 100], [160, 130], [100, 130]], np.float32)]

    def read(self, image: np.ndarray, quads: list[np.ndarray]) -> list[OcrLine]:
        self.reads += 1
        return [OcrLine((100, 100, 160, 130), "Fig. 2", 0.9)]

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        return self.read(image, self.detect(image))

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        raise AssertionError("no layer check expected")


def test_recognition_is_skipped_when_detection_finds_too_little(pages: dict[str, np.ndarray]) -> None:
    backend = StagedBackend()
    (row,) = OcrRegions(backend=backend)([_scan_row(pages["sparse"], "p")]).to_pylist()
    assert row["ocr_skip"] == TOO_LITTLE_DETECTED_TEXT and row["regions"] == [] and backend.reads == 0
    gate_off = OcrRegionsConfig(gate=OcrGateConfig(min_page_chars=0))
    (row,) = OcrRegions(gate_off, backend=backend)([_scan_row(pages["sparse"], "p")]).to_pylist()
    assert row["ocr_skip"] is None and backend.reads == 1


def _mixed_row(image_box: list[float], pixels: np.ndarray) -> dict:
    region = {"bbox": [20, 20, 400, 40], "text": "a text layer line", "granularity": "line", "order": 0,
              "font_size": 10.0, "origin": "text_layer", "confidence": None}
    return {**_scan_row(pixels, "m"), "has_text_layer": True, "text_path": "text_layer", "regions": [region],
            "image_boxes": [image_box]}


def test_image_areas_without_glyph_ink_are_not_read(pages: dict[str, np.ndarray]) -> None:
    class Counting(StagedBackend):
        def recognize(self, image: np.ndarray) -> list[OcrLine]:
            self.reads += 1
            return []

    config = OcrRegionsConfig(layer_check=LayerCheckConfig(enabled=False))
    chart, scan = pages["chart"], pages["scan-01.png"]
    backend = Counting()
    OcrRegions(config, backend=backend)([_mixed_row([150, 150, 1100, 1300], chart)])
    assert backend.reads == 0  # the chart's bars and lines hold no glyph-like ink
    h, w = scan.shape[:2]
    OcrRegions(config, backend=backend)([_mixed_row([0, 0, w, h // 2], scan)])
    assert backend.reads == 1  # the scanned text area is read


def test_one_engine_per_process_serves_pages_and_the_layer_check(pages: dict[str, np.ndarray]) -> None:
    backend = RapidOcrBackend()
    scan = as_rgb(pages["scan-01.png"])
    backend.recognize(scan)
    before = loads()
    backend.recognize_crops([scan[200:260, 100:600]])
    OcrRegions()([_scan_row(pages["scan-02.png"], "s2")])
    assert loads() == before and engine() is engine()
