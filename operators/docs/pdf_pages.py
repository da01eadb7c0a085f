"""PdfPages: one input document (PDF) or page image -> one PAGE_SCHEMA row per page.

Contract:
- input: INPUT_SCHEMA rows; `source` is a local path or fsspec URL; `kind` is "pdf" or "image".
- output: PAGE_SCHEMA rows, one per page, with the page rendered at `dpi` (scaled down so that
  width * height <= `max_pixels`; the `dpi` column holds the effective value) as raw pixels (gray when
  the page has no colour and `color` is "auto"; operators/docs/page_image.py) and its text-layer
  regions (`operators.docs.text_regions`): only text a reader sees on the render
  (`operators.docs.visibility`); the spans and lines left out are counted by reason in
  `rejected_regions`. `has_text_layer` (and `text_path` "text_layer") when the page has at least
  `min_text_chars` non-space characters of visible text; `image_boxes` are the pixel boxes of the
  images drawn on it. Images give one page, no text layer.
- the whole document is quarantined (`Reject`, category quarantine) when it is larger than
  `max_file_bytes`, encrypted (needs a password), has no pages, more than `max_pages` pages, or an
  image over `max_image_pixels` (decompression bomb guard); a document that cannot be opened raises
  and the base class quarantines it with the exception's type.
- a page that fails to load or render becomes an error row (stage "render", message "page i: ...",
  `page_index` set); the other pages go on.
- a row with `page_start`/`page_stop` (DOC_UNIT_SCHEMA, from `SplitDocuments`) renders only those
  pages; the guards still apply to the whole document.
- time budget: `doc_timeout_s` (per row: a document or one unit of it) is checked between pages
  (cooperative: one page that hangs inside MuPDF is not interrupted). When it runs out, the pages
  rendered so far are emitted and one error row with error_type "Timeout" stands for the rest of the
  document.
"""
from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pymupdf
from PIL import Image, ImageOps
from pymupdf import mupdf

from corpus.config_types import AT_LEAST_ONE, POSITIVE, bounded
from operators.base import Operator, Reject, Row, error_row
from operators.docs.file_kind import check_pdf
from operators.docs.page_image import pixel_columns, to_page_pixels
from operators.docs.text_regions import extract_regions
from operators.docs.visibility import LineCheck, VisibilityConfig
from schemas.tables import PAGE_SCHEMA, QUARANTINE

log = logging.getLogger(__name__)

STAGE = "render"


@dataclass
class PdfPagesConfig:
    """Knobs of page rendering and document guards."""

    dpi: float = bounded(144.0, POSITIVE)
    max_pixels: int = bounded(2048 * 2048, AT_LEAST_ONE)  # render is scaled down to fit width * height <= max_pixels
    max_file_bytes: int = 200 * 1024 * 1024
    max_pages: int = bounded(2000, AT_LEAST_ONE)
    doc_timeout_s: float = bounded(300.0, POSITIVE)
    min_text_chars: int = 20  # fewer text-layer characters than this: the page needs OCR
    max_image_pixels: int = 100_000_000  # image inputs larger than this are refused before decoding
    color: str = "auto"  # "auto": gray pages travel and are stored as gray; "rgb" | "gray": always
    visibility: VisibilityConfig = field(default_factory=VisibilityConfig)  # which text-layer lines are seen


def read_source(source: str, max_bytes: int) -> bytes:
    """The bytes of `source` (local path or fsspec URL); Reject when larger than `max_bytes`."""
    with fsspec.open(source, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise Reject(f"file larger than {max_bytes} bytes", QUARANTINE, error_type="TooLarge")
    return data


def fit_scale(width: float, height: float, scale: float, max_pixels: int) -> float:
    """`scale` reduced so that a (width x height) page renders to at most `max_pixels` pixels."""
    pixels = width * scale * height * scale
    if pixels > max_pixels:
        scale *= math.sqrt(max_pixels / pixels) * 0.999
    return scale


def page_row(page_index: int, n_pages: int, pixels: np.ndarray, dpi: float | None,
             regions: list[dict[str, Any]], min_text_chars: int, rejected: dict[str, int] | None = None) -> Row:
    """A PAGE_SCHEMA row body (without the envelope)."""
    n_chars = sum(len("".join(r["text"].split())) for r in regions if r["granularity"] == "block")
    return {
        "rejected_regions": dict(rejected or {}),
        "text_path": "text_layer" if n_chars >= min_text_chars else None,
        "page_index": page_index,
        "n_pages": n_pages,
        **pixel_columns(pixels),
        "dpi": dpi,
        "has_text_layer": n_chars >= min_text_chars,
        "regions": regions,
        "image_boxes": None,  # a PDF page's renderer sets the boxes of its images
    }


def _thumbnail_has_color(display_list: pymupdf.DisplayList, rect: pymupdf.Rect, side: int = 256) -> bool:
    """True when a small RGB render of the page has a pixel whose channels differ."""
    s = side / max(rect.width, rect.height)
    pix = display_list.get_pixmap(matrix=pymupdf.Matrix(s, s), colorspace=pymupdf.csRGB, alpha=False)
    a = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.width, 3)
    return not bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())


def has_color(display_list: pymupdf.DisplayList, rect: pymupdf.Rect) -> bool:
    """Whether the page needs three channels. MuPDF's test device walks the display list without
    rasterising (~0.05 ms a page against ~1.5 ms for a thumbnail render) and decides every fill,
    stroke and text colour (a tint under 2% of full scale counts as grey). Images and shadings in a
    colour space it cannot settle from the colour space alone (its own pixel check misjudges ICC
    images) are settled by a 256-pixel RGB thumbnail render."""
    out = mupdf.ll_fz_new_test_device_outparams()
    device = mupdf.ll_fz_new_test_device_outparams_fn(0.02, 0, None, out)
    identity, everywhere = mupdf.FzMatrix(), mupdf.FzRect(mupdf.FzRect.Fixed_INFINITE)  # alive for the call
    try:
        mupdf.ll_fz_run_display_list(display_list.this.m_internal, device, identity.internal(), everywhere.internal(), None)
        mupdf.ll_fz_close_device(device)
    finally:
        mupdf.ll_fz_drop_device(device)
    if out.is_color == 1:  # only images or shadings in a colour space: look at them
        return _thumbnail_has_color(display_list, rect)
    return out.is_color == 2


class PdfPages(Operator):
    """Render documents into pages with text-layer regions; see the module docstring."""

    stage = STAGE
    reads = ("input_id", "source", "kind")
    reads_if_present = ("page_start", "page_stop")  # all pages when absent
    writes = ("page_index", "n_pages", "image", "width", "height", "channels", "dpi", "has_text_layer", "regions",
              "rejected_regions", "text_path", "image_boxes")
    output_schema = PAGE_SCHEMA

    def __init__(self, config: PdfPagesConfig | None = None) -> None:
        super().__init__()
        self.config = config or PdfPagesConfig()

    def process(self, row: Row) -> Iterator[Row]:
        data = read_source(row["source"], self.config.max_file_bytes)
        if (row.get("kind") or "pdf") == "image":
            yield self._image_page(data)
        else:
            yield from self._pdf_pages(row, data)

    def _image_page(self, data: bytes) -> Row:
        cfg = self.config
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > cfg.max_image_pixels:
                raise Reject(f"image of {im.width}x{im.height} pixels exceeds {cfg.max_image_pixels}",
                             QUARANTINE, error_type="TooLarge")
            dpi = im.info.get("dpi", (None,))[0]
            img = ImageOps.exif_transpose(im).convert("RGB")
        scale = fit_scale(img.width, img.height, 1.0, cfg.max_pixels)
        if scale < 1.0:
            size = (max(1, int(img.width * scale)), max(1, int(img.height * scale)))
            img = img.resize(size, Image.Resampling.LANCZOS)
            dpi = dpi * scale if dpi else None
        return page_row(0, 1, to_page_pixels(np.asarray(img), cfg.color), float(dpi) if dpi else None, [],
                        cfg.min_text_chars)

    def _pdf_pages(self, row: Row, data: bytes) -> Iterator[Row]:
        cfg = self.config
        start = time.monotonic()
        check_pdf(data)
        doc = pymupdf.open(stream=data, filetype="pdf")
        try:
            if doc.needs_pass:
                raise Reject("encrypted document needs a password", QUARANTINE, error_type="Encrypted")
            n = doc.page_count
            if n == 0:
                raise Reject("document has no pages", QUARANTINE, error_type="NoPages")
            if n > cfg.max_pages:
                raise Reject(f"{n} pages exceed max_pages={cfg.max_pages}", QUARANTINE, error_type="TooManyPages")
            first, stop = row.get("page_start") or 0, min(n, row.get("page_stop") or n)
            for i in range(first, stop):
                elapsed = time.monotonic() - start
                if elapsed > cfg.doc_timeout_s:
                    yield error_row(row, STAGE, "Timeout",
                                    f"stopped before page {i}: {i - first} of pages {first}..{stop - 1} (of {n}) done in "
                                    f"{elapsed:.1f}s > doc_timeout_s={cfg.doc_timeout_s}")
                    return
                try:
                    yield self._render(doc, i, n)
                except Exception as e:  # noqa: BLE001 - one bad page must not lose the others
                    log.debug("page %d of %s failed: %s", i, row.get("input_id"), e)
                    err = error_row(row, STAGE, type(e).__name__, f"page {i}: {e}")
                    err["page_index"] = i
                    yield err
        finally:
            doc.close()

    def _render(self, doc: pymupdf.Document, index: int, n_pages: int) -> Row:
        page = doc.load_page(index)
        rect = page.rect
        if rect.is_empty or rect.is_infinite:
            raise ValueError(f"page has an invalid size {rect}")
        scale = fit_scale(rect.width, rect.height, self.config.dpi / 72.0, self.config.max_pixels)
        display_list = page.get_displaylist()  # interpret the page once for pixels and text
        gray = self.config.color == "gray" or (self.config.color == "auto" and not has_color(display_list, rect))
        pix = display_list.get_pixmap(matrix=pymupdf.Matrix(scale, scale), alpha=False,
                                      colorspace=pymupdf.csGRAY if gray else pymupdf.csRGB)
        # a view of the pixmap's memory: page_row copies it once, while `pix` is still alive here
        pixels = np.frombuffer(pix.samples_mv, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
        pixels = pixels[..., 0] if gray else pixels
        check = LineCheck(page, display_list, pixels, pix.width / rect.width, self.config.visibility)
        regions = extract_regions(page, pix.width / rect.width, display_list, check)
        out = page_row(index, n_pages, pixels, 72.0 * pix.width / rect.width, regions, self.config.min_text_chars,
                       check.counts)
        s = check.scale
        out["image_boxes"] = [[b[0] * s, b[1] * s, b[2] * s, b[3] * s] for b in (image.bbox for image in check.images)]
        return out
