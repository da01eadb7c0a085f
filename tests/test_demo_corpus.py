"""The embedded demo corpus: deterministic, varied, and it flows through the document operators."""
from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from operators.docs.filters import RegionFilter
from operators.docs.pdf_pages import PdfPages
from operators.docs.samples import DocSamples, DocSamplesConfig
from pipelines.demo.documents import generate_demo_corpus
from schemas.record import TASK_TRANSCRIBE, SampleRecord


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate_demo_corpus(tmp_path_factory.mktemp("demo"), seed=0)


def rows_for(paths: list[Path]) -> list[dict]:
    return [{"input_id": p.stem, "source": str(p), "shard_id": 0, "seq": i,
             "kind": "image" if p.suffix == ".png" else "pdf"} for i, p in enumerate(paths)]


def test_same_seed_same_bytes_other_seed_other_scans(corpus: list[Path], tmp_path: Path) -> None:
    again = generate_demo_corpus(tmp_path / "a", seed=0)
    assert [p.name for p in again] == [p.name for p in corpus]
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(corpus, again))
    other = {p.name: p.read_bytes() for p in generate_demo_corpus(tmp_path / "b", seed=1)}
    assert other["scan-01.png"] != (corpus[0].parent / "scan-01.png").read_bytes()


def test_corpus_contents(corpus: list[Path]) -> None:
    pdfs = [p for p in corpus if p.suffix == ".pdf" and not p.name.startswith("scans")]
    pngs = [p for p in corpus if p.suffix == ".png"]
    assert len(pdfs) == 8 and len(pngs) == 3
    pages = 0
    fonts: set[str] = set()
    for p in pdfs:
        doc = pymupdf.open(p)
        pages += doc.page_count
        for page in doc:
            assert len(page.get_text().split()) > 40
            fonts |= {f[3] for f in page.get_fonts()}
    assert pages >= 15
    assert {"Helvetica", "Times-Roman", "Courier", "Helvetica-Bold"} <= fonts
    scans = pymupdf.open(corpus[0].parent / "scans-image-only.pdf")
    assert scans.page_count == 3 and all(not page.get_text().strip() and page.get_images() for page in scans)


def test_corpus_flows_through_operators(corpus: list[Path]) -> None:
    pages = PdfPages()(rows_for(corpus)).to_pylist()
    assert all(r["error_type"] is None for r in pages)
    scans = [r for r in pages if r["input_id"].startswith("scan")]
    assert len(scans) == 6 and not any(r["has_text_layer"] for r in scans)
    digital = [r for r in pages if r["has_text_layer"]]
    assert len(digital) == len(pages) - 6

    kept = RegionFilter()(digital).to_pylist()
    assert all(r["error_type"] is None for r in kept)
    samples = DocSamples(DocSamplesConfig(corrupt_samples=2, transcribe_fraction=1.0))(kept).to_pylist()
    assert len(samples) == 3 * len(kept) and len({s["key"] for s in samples}) == len(samples)

    # reading order on a two-column page: each article's heading, then its text, articles in flow order
    records = [SampleRecord.from_json(s["members"][1]["data"]) for s in samples if s["task"] == TASK_TRANSCRIBE]
    text = next(r.conversations[1].content for r in records
                if r.input_id == "earth-sciences-two-column" and r.page == 0)
    marks = ["Notes on the Restless Earth", "Plate Tectonics", "The outer shell", "Volcanoes", "Table 3.", "Tides", "Coral Reefs"]
    positions = [text.index(m) for m in marks]
    assert positions == sorted(positions)
