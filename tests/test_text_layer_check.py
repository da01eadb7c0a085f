"""Text layers checked against the pixels, OCR word spaces and mixed pages: small PDFs made here,
through the real operators (RapidOCR where a test says so)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest
from test_text_visibility import ListBackend, line_texts, pages

from operators.docs.layer_check import LayerCheckConfig, plausible, prefix_cer
from operators.docs.mixed_pages import merge_regions
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.ocr_backends import OcrLine
from operators.docs.pdf_pages import PdfPages


def broken_mapping_pdf(path: Path, body: str | None) -> Path:
    """Two lines in an embedded font whose ToUnicode map is replaced by `body` (None: removed; "": kept)."""
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=160)
    page.insert_font(fontname="F0", fontbuffer=pymupdf.Font("helv").buffer)
    page.insert_text((20, 50), "Mapped text that a reader can see", fontname="F0", fontsize=16)
    page.insert_text((20, 100), "A second line of ordinary words", fontname="F0", fontsize=16)
    font = next(x for x in range(1, doc.xref_length()) if doc.xref_get_key(x, "Subtype")[1] == "/Type0")
    _, ref = doc.xref_get_key(font, "ToUnicode")
    if body is None:
        doc.xref_set_key(font, "ToUnicode", "null")
    elif body:
        doc.update_stream(int(ref.split()[0]), ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap "
                                                 "1 begincodespacerange <0000> <FFFF> endcodespacerange " + body +
                                                 " endcmap CMapName currentdict /CMap defineresource pop end end").encode())
    doc.save(path, no_new_id=True)
    return path


@pytest.mark.parametrize("body", [None, "1 beginbfrange <0000> <ffff> <e000> endbfrange"], ids=["no-tounicode", "private-use"])
def test_unmapped_text_layer_goes_to_ocr_without_reading_it(tmp_path: Path, body: str | None) -> None:
    (row,) = pages(broken_mapping_pdf(tmp_path / "b.pdf", body))
    assert row["regions"] == [] and row["rejected_regions"] == {"unmapped": 2}
    assert not any("\ue000" <= c <= "\uf8ff" for r in row["regions"] for c in r["text"])
    backend = ListBackend([OcrLine((10, 10, 300, 40), "Mapped text that a reader can see", 0.9)])
    (out,) = OcrRegions(backend=backend).run_rows([row])
    assert out["text_path"] == "ocr" and backend.calls == 1


def test_layer_check_with_rapidocr_trusts_good_layers_and_replaces_mojibake(tmp_path: Path) -> None:
    good = pages(broken_mapping_pdf(tmp_path / "good.pdf", ""))[0]
    shifted = pages(broken_mapping_pdf(tmp_path / "shift.pdf", "1 beginbfrange <0000> <00ff> <0021> endbfrange"))[0]
    assert line_texts(good) == ["Mapped text that a reader can see", "A second line of ordinary words"]
    assert line_texts(shifted)[0].startswith("Ocrrgf")  # printable, wrong: only the pixels tell
    op = OcrRegions()
    (kept,) = op.run_rows([good])
    assert kept["text_path"] == "text_layer" and kept["regions"] == good["regions"]
    (fixed,) = op.run_rows([shifted])
    assert fixed["text_path"] == "ocr" and fixed["rejected_regions"] == {"layer_mismatch": 2}
    assert "reader can see" in " ".join(line_texts(fixed))  # OCR keeps the word spaces
    filtering = OcrRegions(OcrRegionsConfig(layer_check=LayerCheckConfig(on_mismatch="filter")))
    (err,) = filtering.run_rows([{**shifted, "input_id": "other"}])
    assert err["error_type"] == "layer_mismatch" and err["error_category"] == "filtered"


def test_prefix_cer() -> None:
    assert prefix_cer("hello", "hello world", 5, 5) == 0.0
    assert prefix_cer("hellp", "hello world", 4, 6) == pytest.approx(0.2)
    assert prefix_cer("", "abc", 3, 3) == 1.0


def test_mixed_page_merges_ocr_of_scanned_parts_in_reading_order() -> None:
    def region(text: str, bbox: list[float], gran: str, origin: str) -> dict:
        return {"bbox": bbox, "text": text, "granularity": gran, "order": 0, "font_size": 10.0, "origin": origin,
                "confidence": None}

    layer = [region("Heading of the page", [10, 10, 590, 30], "block", "text_layer"),
             region("Heading of the page", [10, 10, 590, 30], "line", "text_layer"),
             region("Caption below the scan", [10, 400, 590, 420], "block", "text_layer"),
             region("Caption below the scan", [10, 400, 590, 420], "line", "text_layer")]
    ocr = [region("Scanned words\nrepeat of caption", [20, 100, 580, 420], "block", "ocr"),
           region("Scanned words", [20, 100, 580, 130], "line", "ocr"),
           region("repeat of caption", [12, 401, 580, 419], "line", "ocr")]
    merged = merge_regions(layer, ocr, 800.0)
    blocks = sorted((r for r in merged if r["granularity"] == "block"), key=lambda r: r["order"])
    assert [b["text"] for b in blocks] == ["Heading of the page", "Scanned words", "Caption below the scan"]
    lines = sorted((r for r in merged if r["granularity"] == "line"), key=lambda r: r["order"])
    assert [ln["text"] for ln in lines] == ["Heading of the page", "Scanned words", "Caption below the scan"]


def test_mixed_page_transcription_covers_layer_text_and_scanned_part(tmp_path: Path) -> None:
    from operators.docs.samples import DocSamples, DocSamplesConfig
    from schemas.record import SampleRecord

    scan = pymupdf.open()
    sp = scan.new_page(width=300, height=60)
    sp.insert_text((10, 35), "Scanned words in a picture", fontsize=18)
    picture = sp.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=300)
    page.insert_text((20, 40), "Heading typed in the text layer", fontsize=14)
    page.insert_image(pymupdf.Rect(20, 80, 320, 140), pixmap=picture)
    page.insert_text((20, 200), "Closing line typed below the picture", fontsize=14)
    doc.save(tmp_path / "mixed.pdf", no_new_id=True)
    (row,) = pages(tmp_path / "mixed.pdf")
    (row,) = OcrRegions().run_rows([row])
    assert row["text_path"] == "mixed"
    samples = DocSamples(DocSamplesConfig(transcribe_fraction=1.0)).run_rows([row])
    record = next(SampleRecord.from_json(m["data"]) for s in samples for m in s["members"]
                  if m["ext"] == "json" and b'"transcribe"' in m["data"])
    target = record.conversations[1].content
    first, second, third = (target.find(t) for t in ("Heading typed", "Scanned words in a picture", "Closing line"))
    assert 0 <= first < second < third, target
    assert record.meta["text_path"] == "mixed"


class CropBackend(ListBackend):
    """Reads every crop as `text` and counts the crops it was given."""

    def __init__(self, text: str) -> None:
        super().__init__([])
        self.text, self.crops = text, 0

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        self.crops += len(crops)
        return [(self.text, 0.9)] * len(crops)


def test_layer_verdict_is_shared_by_a_group_of_pages(three_page_rows: list[dict]) -> None:
    first, second, third = three_page_rows
    backend = CropBackend("nothing like the layer at all")
    check = LayerCheckConfig(pages_per_check=2, on_mismatch="filter", read_back="always")
    op = OcrRegions(OcrRegionsConfig(layer_check=check), backend=backend)
    outs = list(op.run_rows([first, second, third]))
    assert [o["error_type"] for o in outs] == ["layer_mismatch"] * 3
    assert backend.crops == 2 * 3  # pages 0 and 2 read back (3 lines each); page 1 took page 0's verdict
    trusting = CropBackend("page 0 line 1 with several words")
    check = LayerCheckConfig(pages_per_check=2, read_back="always")
    kept = list(OcrRegions(OcrRegionsConfig(layer_check=check), backend=trusting).run_rows([first, second]))
    assert [o["text_path"] for o in kept] == ["text_layer"] * 2 and trusting.crops == 3
    plain = CropBackend("nothing like the layer at all")  # default: only implausible layers are read back
    kept = list(OcrRegions(backend=plain).run_rows([first, second, third]))
    assert [o["text_path"] for o in kept] == ["text_layer"] * 3 and plain.crops == 0


def test_plausible_text_statistics() -> None:
    assert plausible(["Mapped text that a reader can see", "A second line of ordinary words"])
    assert plausible(["« Bonjour », dit-il à l’élève près de la fenêtre où était la lumière"])
    assert plausible(["Die Würde des Menschen ist unantastbar. Sie zu achten ist Verpflichtung"])
    assert plausible(["这是一个中文句子，用于测试文本层的检查是否正确"])  # not Latin: nothing to judge
    assert not plausible(['Ocrrgf"vgzv"vjcv"c"tgcfgt"ecp"ugg', 'C"ugeqpf"nkpg"qh"qtfkpct{"yqtfu'])
    assert not plausible(["Ã©tÃ© trÃ¨s bien Ã  la maison Ã©cole fenÃªtre"])
    assert not plausible(["#$%& *+,- ./01 #$%& *+,- ./01 #$%& *+,-"])


@pytest.fixture(scope="module")
def three_page_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    doc = pymupdf.open()
    for p in range(3):
        page = doc.new_page(width=400, height=200)
        for k in range(3):
            page.insert_text((20, 40 + 40 * k), f"page {p} line {k} with several words", fontsize=14)
    path = tmp_path_factory.mktemp("grp") / "three.pdf"
    doc.save(path, no_new_id=True)
    return pages(path)


def test_spaced_ctc_decode_inserts_a_space_where_the_space_class_rises() -> None:
    from operators.docs.ocr_spaces import SpacedCtcDecode

    class Plain:
        character = ["blank", "a", "b", " "]

    steps = [(1, 0), (0, 0), (0, 0.3), (0, 0), (2, 0), (0, 0.01), (1, 0)]  # a, gap with space 0.3, b, tight gap, a
    probs = np.zeros((len(steps), 4), dtype=np.float32)
    for t, (cls, space) in enumerate(steps):
        probs[t, cls] = 0.9
        probs[t, 3] = space
    text, conf = SpacedCtcDecode(Plain()).decode_one(probs)
    assert text == "a ba" and conf == pytest.approx(0.9)


def test_ocr_keeps_word_spaces_on_the_demo_scan(tmp_path: Path) -> None:
    import re

    from operators.docs.page_image import page_pixels, pixel_columns
    from pipelines.demo.documents import generate_demo_corpus
    from pipelines.demo.texts import ARTICLES

    scan = next(p for p in generate_demo_corpus(tmp_path) if p.name == "scan-02.png")
    row = {"input_id": "s", "source": str(scan), "kind": "image", "shard_id": 0, "seq": 0}
    (page,) = PdfPages().run_rows([row])
    pixels = page_pixels(page)
    cut = next(y for y in range(int(page["height"] * 0.3), page["height"]) if (pixels[y] < 128).sum() < 3)
    page.update(pixel_columns(pixels[:cut]))  # cut between two lines: title and first paragraphs
    (out,) = OcrRegions().run_rows([page])
    title, paragraphs = ARTICLES[11]
    vocabulary = {w.lower() for w in re.findall(r"[A-Za-z]+", title + " " + " ".join(paragraphs))}
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", " ".join(line_texts(out)))]
    run_together = [w for w in words if w not in vocabulary and any(
        w[:k] in vocabulary and w[k:] in vocabulary for k in range(1, len(w)))]
    assert len(words) >= 30 and not run_together, run_together
    assert "barrier reef stretches" in " ".join(words)
