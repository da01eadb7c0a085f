"""Document operators alone (no Ray): rendering, regions, reading order, OCR, filters, corruption, samples."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from operators.docs.corrupt import FAMILIES, NoiseConfig, background, corrupt_region, pixel_box
from operators.docs.filters import RegionFilter
from operators.docs.layer_check import LayerCheckConfig
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.page_image import as_rgb, page_pixels, pixel_columns
from operators.docs.pdf_pages import PdfPages, PdfPagesConfig
from operators.docs.samples import DocSamples, DocSamplesConfig, detect_language
from operators.docs.text_regions import reading_order
from pipelines.demo.texts import ARTICLES
from schemas.record import TASK_KNOWLEDGE, TASK_OCR, TASK_TRANSCRIBE, TASK_VISUAL_CONTEXT, SampleRecord
from schemas.tables import FILTERED, QUARANTINE, SINK_SCHEMA

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pdfs"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures absent")

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
    doc.save(path)
    return path


@pytest.fixture(scope="module")
def two_column_page(two_column_pdf: Path) -> dict:
    rows = PdfPages()([input_row(two_column_pdf)]).to_pylist()
    assert len(rows) == 1 and rows[0]["error_type"] is None
    return rows[0]


def decode(row: dict) -> np.ndarray:
    return as_rgb(page_pixels(row))


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
    doc.save(path)
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
    doc.save(tmp_path / "rotated.pdf")
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


# --- OCR -------------------------------------------------------------------------------------------

class FakeBackend:
    def __init__(self) -> None:
        self.calls = 0

    def recognize(self, image: np.ndarray):  # noqa: ANN201 - OcrBackend protocol
        from operators.docs.ocr import OcrLine

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


# --- corruption ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_image(two_column_page: dict) -> tuple[np.ndarray, list[float]]:
    line = next(r for r in two_column_page["regions"] if r["granularity"] == "line" and r["text"].startswith("Left"))
    return decode(two_column_page), line["bbox"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("strength", [0.2, 0.6])
def test_corruption_changes_only_inside_bbox(text_image: tuple[np.ndarray, list[float]], family: str, strength: float) -> None:
    image, bbox = text_image
    out, _ = FAMILIES[family](image, bbox, strength, np.random.default_rng(0), 20.0)
    assert out.shape == image.shape and out.dtype == np.uint8
    x0, y0, x1, y1 = pixel_box(bbox, image.shape[1], image.shape[0])
    inside = np.zeros(image.shape[:2], dtype=bool)
    inside[y0:y1, x0:x1] = True
    changed = (out != image).any(axis=2)
    assert changed[inside].any(), family
    assert not changed[~inside].any(), family


def test_mask_leaves_no_glyph_pixels(text_image: tuple[np.ndarray, list[float]]) -> None:
    image, bbox = text_image
    x0, y0, x1, y1 = pixel_box(bbox, image.shape[1], image.shape[0])
    assert image[y0:y1, x0:x1].min() < 100  # there was dark text
    out, _ = FAMILIES["mask"](image, bbox, 1.0, np.random.default_rng(0), 20.0)
    patch = out[y0:y1, x0:x1]
    assert (patch == background(image, bbox)).all() and patch.min() > 200


def test_corrupt_region_draws_family_and_strength_from_level(text_image: tuple[np.ndarray, list[float]]) -> None:
    image, bbox = text_image
    cfg = NoiseConfig()
    for level in ("light", "medium", "masked"):
        _, family, strength, _ = corrupt_region(image, bbox, level, np.random.default_rng(1), cfg, 20.0)
        lo, hi = cfg.strength[level][family]
        assert family in cfg.families[level] and lo <= strength <= hi


# --- samples ---------------------------------------------------------------------------------------

def test_doc_samples_records_and_determinism(two_column_page: dict) -> None:
    cfg = DocSamplesConfig(seed=7, corrupt_samples=6, transcribe_fraction=1.0)
    a = DocSamples(cfg)([two_column_page])
    assert a.schema == SINK_SCHEMA and a.num_rows == 7
    b = DocSamples(DocSamplesConfig(seed=7, corrupt_samples=6, transcribe_fraction=1.0))([two_column_page])
    assert a.to_pylist() == b.to_pylist()
    c = DocSamples(DocSamplesConfig(seed=8, corrupt_samples=6, transcribe_fraction=1.0))([two_column_page])
    assert a.column("key").to_pylist() == c.column("key").to_pylist()
    assert a.column("members").to_pylist() != c.column("members").to_pylist()

    tasks = {TASK_OCR: "light", TASK_VISUAL_CONTEXT: "medium", TASK_KNOWLEDGE: "masked", TASK_TRANSCRIBE: "none"}
    for row in a.to_pylist():
        exts = [m["ext"] for m in row["members"]]
        assert exts == ["jpg", "json"]
        img = Image.open(io.BytesIO(row["members"][0]["data"]))
        assert img.format == "JPEG" and img.size == (row["width"], row["height"])
        rec = SampleRecord.from_json(row["members"][1]["data"])
        assert rec.key == row["key"] and rec.task == row["task"] and tasks[rec.task] == rec.noise_level == row["noise_level"]
        user, assistant = rec.conversations
        assert user.role == "user" and user.content.startswith("<image>\n") and assistant.role == "assistant"
        assert row["text_len"] == len(assistant.content) and row["language"] == "en"
        if rec.task == TASK_TRANSCRIBE:
            assert assistant.content.startswith("A Two Column") and rec.regions == []
            continue
        assert row["n_regions"] == len(rec.regions) >= 1 and user.content.count("<box>") == len(rec.regions)
        assert all(r.text in assistant.content for r in rec.regions)
        if len(rec.regions) == 1:
            assert assistant.content == rec.regions[0].text


def test_doc_samples_reject_page_without_regions(two_column_page: dict) -> None:
    out = DocSamples()([{**two_column_page, "regions": []}]).to_pylist()
    assert [(r["error_category"], r["error_type"]) for r in out] == [(FILTERED, "no_regions")]


def test_detect_language() -> None:
    assert detect_language("The quick brown fox") == "en"
    assert detect_language("这是一个测试文本") == "zh"
    assert detect_language("これはテストです") == "ja"
    assert detect_language("Это проверка") == "ru"
