"""Assemble the mixed real-world docs benchmark set into a folder (nothing of it is committed).

The set mixes what a crawl brings, in the proportions that made OCR the larger part of a real build
(issue 27): text-layer papers, scanned pages with much text, scanner batches full of pages with none
(blank sheets, page numbers, charts, photos), vector drawings without a text layer, and mixed pages
(a text layer plus a pasted scan or chart). Sources, all freely licensed or generated here:

- `../shared/fixtures/pdfs/`: tracemonkey.pdf (a 14-page paper), alphatrans.pdf, issue14200.pdf (an image
  page), Pages-tree-refs.pdf (the pdf.js test-suite files of the fixtures; the pdf.js suite itself is kept
  apart for acceptance and is not used);
- matplotlib's toolbar icons (`matplotlib/mpl-data/images/*.pdf`, PSF-style licence): vector-only pages;
- the project's demo generator (`pipelines.demo.documents`): text-layer documents and three scans;
- generated here, seeded: `scanned-paper.pdf` (tracemonkey pages 1-6 rasterized to gray, noisy, as
  a scanner makes them: OCR pages that yield samples), `scanner-batch.pdf` (blank and near-blank sheets,
  page-number-only sheets, two sparse notes, charts without labels, a photo-like page), `mixed.pdf`
  (text-layer pages with a pasted scan and with a chart image).

    python benchmarks/mixed_docs_set.py OUT_DIR
"""
from __future__ import annotations

import argparse
import io
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pymupdf
from PIL import Image, ImageFilter

from pipelines.demo.documents import generate_demo_corpus

log = logging.getLogger("mixed_docs_set")
FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "pdfs"
FIXTURE_PDFS = ("tracemonkey.pdf", "alphatrans.pdf", "issue14200.pdf", "Pages-tree-refs.pdf")
A4 = (595, 842)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _scanned(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A page image as a scanner returns it: gray, slightly rotated and soft, with sensor noise."""
    gray = img.convert("L").rotate(float(rng.uniform(-0.8, 0.8)), fillcolor=255, resample=Image.BICUBIC)
    px = np.asarray(gray.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.int16)
    px = px - 12 + rng.integers(0, 14, px.shape)
    return Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))


def _image_pdf(images: list[Image.Image]) -> bytes:
    doc = pymupdf.open()
    for img in images:
        page = doc.new_page(width=A4[0], height=A4[1])
        page.insert_image(page.rect, stream=_png(img))
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def _render(page: pymupdf.Page, dpi: int) -> Image.Image:
    pm = page.get_pixmap(dpi=dpi)
    return Image.frombytes("RGB", (pm.width, pm.height), pm.samples)


def _sheet(draw: Callable[[pymupdf.Page], object], dpi: int = 150) -> Image.Image:
    """A page drawn by `draw` on a blank A4 page, rendered."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    draw(page)
    return _render(page, dpi)


def _chart(seed: int) -> Image.Image:
    """A bar-and-line chart without labels, as a pasted figure."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.bar(range(8), rng.uniform(1, 9, 8), color="#4a6fb5")
    ax.plot(range(8), rng.uniform(1, 9, 8), color="#c03030", linewidth=2)
    ax.set_xticks([])
    ax.set_yticks([])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _photo(rng: np.random.Generator) -> Image.Image:
    small = rng.integers(0, 255, (12, 9, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((1240, 1754), Image.BICUBIC).filter(ImageFilter.GaussianBlur(8))


def scanner_batch(rng: np.random.Generator) -> bytes:
    """Sheets a scanner batch holds besides text: most of them yield nothing."""
    def text(s: str, size: float = 11) -> Callable[[pymupdf.Page], object]:
        return lambda page: page.insert_text((72, 400), s, fontsize=size)

    sheets = [_sheet(lambda page: None) for _ in range(4)]
    sheets += [_sheet(text(f"- {n} -", 10)) for n in (7, 8, 12)]
    sheets += [_sheet(text("Received 12 March, filed under correspondence, box 4.")),
               _sheet(text("This page is intentionally left blank for double-sided printing."))]
    for seed in (1, 2):
        chart = _chart(seed)
        sheets.append(_sheet(lambda page, c=chart: page.insert_image(pymupdf.Rect(80, 150, 515, 440), stream=_png(c))))
    sheets.append(_photo(rng))
    return _image_pdf([_scanned(s, rng) for s in sheets])


def mixed_pages(paper: pymupdf.Document, rng: np.random.Generator) -> bytes:
    """Text-layer pages with a pasted scan (text in pixels only) and with a chart image."""
    doc = pymupdf.open()
    scan = _scanned(_render(paper[2], 100).crop((0, 0, 850, 420)), rng)
    for k, picture in enumerate((scan, _chart(3), scan, _chart(4))):
        page = doc.new_page(width=A4[0], height=A4[1])
        body = "\n".join(f"Paragraph {k}.{i}: the text layer of a mixed page, set in a plain font." for i in range(6))
        page.insert_textbox(pymupdf.Rect(60, 60, 535, 260), body, fontsize=10)
        page.insert_image(pymupdf.Rect(60, 300, 535, 560), stream=_png(picture))
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def assemble(out: Path, seed: int = 0) -> list[Path]:
    """Write the set into `out`; returns its files."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in FIXTURE_PDFS:
        shutil.copyfile(FIXTURES / name, out / name)
    icons = Path(matplotlib.get_data_path()) / "images"
    for pdf in sorted(icons.glob("*.pdf")):
        shutil.copyfile(pdf, out / f"icon-{pdf.name}")
    generate_demo_corpus(out / "demo", seed=seed)
    paper = pymupdf.open(FIXTURES / "tracemonkey.pdf")
    (out / "scanned-paper.pdf").write_bytes(_image_pdf([_scanned(_render(paper[i], 150), rng) for i in range(6)]))
    (out / "scanner-batch.pdf").write_bytes(scanner_batch(rng))
    (out / "mixed.pdf").write_bytes(mixed_pages(paper, rng))
    return sorted(p for p in out.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder to write the set into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = assemble(args.out, args.seed)
    log.info("%d files in %s", len(files), args.out)


if __name__ == "__main__":
    main()
