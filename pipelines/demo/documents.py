"""The embedded demo corpus: PDFs and scans generated offline from `pipelines.demo.texts`.

`generate_demo_corpus(out_dir, seed)` writes eight born-digital PDFs (one, two and three columns,
headings, tables, a code listing; base-14 fonts helv, tiro, cour and their bold faces; letter, A5 and
landscape pages) and three scanned-like pages (a rendered page, slightly rotated, softened, with dust
specks, in grey) saved as PNG files and together as one image-only PDF, so the OCR path runs. Same seed, same
bytes; the seed drives the scans' rotation and noise.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image, ImageFilter

from pipelines.demo.texts import ARTICLES, CODE, EUCLID, TABLES, Article, Table

log = logging.getLogger(__name__)

LETTER = pymupdf.paper_rect("letter")
A5 = pymupdf.paper_rect("a5")
LANDSCAPE = pymupdf.paper_rect("letter-l")
SCAN_DPI = 150


@dataclass(frozen=True)
class Layout:
    """A page design: size, columns and the body font."""

    page: pymupdf.Rect
    columns: int
    font: str
    size: float
    heading_font: str = "hebo"
    margin: float = 54.0
    gutter: float = 18.0


class Flow:
    """Flows headings, paragraphs, tables and code through the columns of successive pages."""

    def __init__(self, doc: pymupdf.Document, layout: Layout, title: str) -> None:
        self.doc, self.lay = doc, layout
        self.page: pymupdf.Page | None = None
        self.col = 0
        self.y = 0.0
        self.top = layout.margin
        self._new_page()
        self._title(title)

    def _new_page(self) -> None:
        self.page = self.doc.new_page(width=self.lay.page.width, height=self.lay.page.height)
        self.col, self.top = 0, self.lay.margin
        self.y = self.top
        n = self.doc.page_count
        self.page.insert_text((self.lay.page.width / 2 - 10, self.lay.page.height - 30), f"- {n} -",
                              fontname="helv", fontsize=8)

    def _col_x(self) -> tuple[float, float]:
        lay = self.lay
        width = (lay.page.width - 2 * lay.margin - (lay.columns - 1) * lay.gutter) / lay.columns
        x0 = lay.margin + self.col * (width + lay.gutter)
        return x0, width

    def _bottom(self) -> float:
        return self.lay.page.height - self.lay.margin

    def _need(self, height: float) -> None:
        """Move to the next column (or page) unless `height` points fit below the cursor."""
        if self.y + height <= self._bottom():
            return
        if self.col + 1 < self.lay.columns:
            self.col += 1
            self.y = self.top
        else:
            self._new_page()

    def _title(self, title: str) -> None:
        size = self.lay.size * 1.9
        width = self.lay.page.width - 2 * self.lay.margin
        for line in wrap(title, "hebo", size, width):
            self.page.insert_text((self.lay.margin, self.y + size), line, fontname="hebo", fontsize=size)
            self.y += size * 1.25
        self.top = self.y + self.lay.size
        self.y = self.top

    def heading(self, text: str) -> None:
        size = self.lay.size * 1.3
        self._need(size * 1.4 + self.lay.size * 3)
        x0, width = self._col_x()
        self.y += size * 0.4
        for line in wrap(text, self.lay.heading_font, size, width):
            self.page.insert_text((x0, self.y + size), line, fontname=self.lay.heading_font, fontsize=size)
            self.y += size * 1.3
        self.y += size * 0.2

    def paragraph(self, text: str, font: str | None = None, size: float | None = None) -> None:
        font, size = font or self.lay.font, size or self.lay.size
        x0, width = self._col_x()
        for line in wrap(text, font, size, width):
            self._need(size * 1.3)
            x0, _ = self._col_x()
            self.page.insert_text((x0, self.y + size), line, fontname=font, fontsize=size)
            self.y += size * 1.3
        self.y += size * 0.6

    def code(self, lines: list[str]) -> None:
        size = self.lay.size * 0.9
        self._need(size * 1.25 * len(lines) + 8)
        x0, width = self._col_x()
        self.page.draw_rect(pymupdf.Rect(x0, self.y, x0 + width, self.y + size * 1.25 * len(lines) + 8),
                            color=(0.6, 0.6, 0.6), fill=(0.95, 0.95, 0.95), width=0.5)
        self.y += 4
        for line in lines:
            self.page.insert_text((x0 + 6, self.y + size), line, fontname="cour", fontsize=size)
            self.y += size * 1.25
        self.y += 4 + self.lay.size

    def table(self, table: Table) -> None:
        caption, header, rows = table
        x0, width = self._col_x()
        cell_w = width / len(header)
        widest = max(pymupdf.get_text_length(c, fontname="hebo", fontsize=1.0) for c in header + sum(rows, []))
        size = min(self.lay.size * 0.85, (cell_w - 6) / widest)
        row_h = size * 1.8
        self._need(row_h * (len(rows) + 1) + size * 2.5)
        x0, width = self._col_x()
        self.page.insert_text((x0, self.y + size), caption, fontname="hebo", fontsize=size)
        self.y += size * 1.8
        for r, cells in enumerate([header] + rows):
            font = "hebo" if r == 0 else "helv"
            for c, text in enumerate(cells):
                rect = pymupdf.Rect(x0 + c * cell_w, self.y, x0 + (c + 1) * cell_w, self.y + row_h)
                self.page.draw_rect(rect, color=(0, 0, 0), width=0.4)
                self.page.insert_text((rect.x0 + 3, rect.y0 + size * 1.25), text, fontname=font, fontsize=size)
            self.y += row_h
        self.y += self.lay.size

    def article(self, article: Article) -> None:
        title, paragraphs = article
        self.heading(title)
        for p in paragraphs:
            self.paragraph(p)


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy line breaking of `text` in a base-14 font to at most `width` points."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if line and pymupdf.get_text_length(candidate, fontname=font, fontsize=size) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _pdf_bytes(doc: pymupdf.Document) -> bytes:
    doc.set_metadata({})
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def _document(title: str, layout: Layout, content: list[Article | Table | list[str]]) -> bytes:
    doc = pymupdf.open()
    flow = Flow(doc, layout, title)
    for item in content:
        if isinstance(item, list):
            flow.code(item)
        elif len(item) == 3:
            flow.table(item)
        else:
            flow.article(item)
    return _pdf_bytes(doc)


def _documents() -> dict[str, bytes]:
    a, t = ARTICLES, TABLES
    return {
        "essay-water-and-print.pdf": _document(
            "Water and Words: Essays", Layout(LETTER, 1, "tiro", 12.5, heading_font="tibo"),
            [a[0], t[0], a[1], a[2], a[3]]),
        "earth-sciences-two-column.pdf": _document(
            "Notes on the Restless Earth", Layout(LETTER, 2, "tiro", 11),
            [a[3], a[10], t[2], a[14], a[11], a[0], a[2]]),
        "history-report.pdf": _document(
            "Roads, Water and Light: Engineering in History", Layout(LETTER, 1, "helv", 11.5),
            [a[4], t[2], a[7], a[8], a[1], a[12]]),
        "science-newsletter-three-column.pdf": _document(
            "Science Newsletter", Layout(LETTER, 3, "helv", 10, margin=40, gutter=14),
            [a[2], a[5], a[12], t[1], a[13], a[6], a[9], a[4], a[1]]),
        "programming-notes.pdf": _document(
            "Elements and Algorithms", Layout(LETTER, 1, "helv", 11.5), [a[9], t[1], EUCLID, CODE, a[13]]),
        "astronomy-two-column.pdf": _document(
            "Looking Up: Telescopes, Tides and Planets", Layout(LETTER, 2, "tiro", 11.5, heading_font="tibo"),
            [a[6], t[0], a[14], a[0], a[3], a[11]]),
        "a5-booklet.pdf": _document(
            "A Small Book of Machines and Life", Layout(A5, 1, "tiro", 11, margin=40, heading_font="tibo"),
            [a[12], a[13], a[5], a[8]]),
        "landscape-three-column.pdf": _document(
            "Trade, Print and the Sea", Layout(LANDSCAPE, 3, "helv", 10.5, margin=42),
            [a[1], a[7], a[8], a[9], a[4], a[10]]),
    }


def _scan(article: Article, rng: np.random.Generator) -> Image.Image:
    """A page of `article` in large type, rendered in grey, rotated by under a degree, softened, with dust specks."""
    doc = pymupdf.open()
    flow = Flow(doc, Layout(LETTER, 1, "helv", 14, margin=60), article[0])
    for p in article[1][:2]:
        if doc.page_count == 1:
            flow.paragraph(p)
    pix = doc[0].get_pixmap(dpi=SCAN_DPI, colorspace=pymupdf.csGRAY)
    img = Image.frombytes("L", (pix.width, pix.height), pix.samples)
    img = img.rotate(float(rng.uniform(-0.8, 0.8)), resample=Image.Resampling.BICUBIC, fillcolor=255)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    arr = np.asarray(img, dtype=np.float32) * 0.9 + 16
    arr[rng.random(arr.shape) < 0.002] = 90  # dust specks
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=(SCAN_DPI, SCAN_DPI))
    return buf.getvalue()


def _image_pdf(pngs: list[bytes]) -> bytes:
    doc = pymupdf.open()
    for data in pngs:
        w, h = Image.open(io.BytesIO(data)).size
        page = doc.new_page(width=w * 72 / SCAN_DPI, height=h * 72 / SCAN_DPI)
        page.insert_image(page.rect, stream=data)
    return _pdf_bytes(doc)


def generate_demo_corpus(out_dir: Path, seed: int = 0) -> list[Path]:
    """Write the demo corpus into `out_dir` (created if needed); returns the files written, sorted."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _documents()
    rng = np.random.default_rng([seed, 0x5CA9])
    pngs = [_png(_scan(ARTICLES[i], rng)) for i in (10, 11, 2)]
    files.update({f"scan-{k + 1:02d}.png": png for k, png in enumerate(pngs)})
    files["scans-image-only.pdf"] = _image_pdf(pngs)
    paths = []
    for name, data in sorted(files.items()):
        path = out_dir / name
        path.write_bytes(data)
        paths.append(path)
    log.info("demo corpus: %d files in %s", len(paths), out_dir)
    return paths
