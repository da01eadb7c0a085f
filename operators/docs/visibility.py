"""Which text-layer lines a reader can see on the rendered page: only visible text becomes a target.

`LineCheck` judges spans and lines of `page.get_text("dict")` against the page and its render:
- a span is "invisible" when it is neither filled nor stroked (render mode 3, the hidden OCR layer of
  scanned PDFs) or fully transparent, and "clipped" when MuPDF marks its characters as clipped away;
  such spans are dropped from their line (`span_reason`);
- a line is "outside_page" when less than `min_inside` of its box lies on the page, "too_small" when
  its font size is under `min_glyph_px` pixels at the render scale, "watermark" when it is drawn
  translucent (every span with fill opacity under 1) across other text (its box holds at least half of
  the box of a line drawn opaque: a "DRAFT" or "CONFIDENTIAL" laid over the body, whose box would show
  the body's lines, not one line of its own), "covered" when an image drawn after it hides more than
  `max_covered` of its box: image pixels too opaque to let `min_contrast` grey levels of ink through
  (opacity above 1 - min_contrast / 255, from the image's fill alpha, transparency groups and soft
  mask: `operators.docs.drawn_images`; drawing order from the glyphs' drawing numbers:
  `operators.docs.drawn_glyphs`; checked only on pages that have images), and "low_contrast" when the
  rendered pixels of the core band of its box (the middle half of its height) span less than
  `min_contrast` grey levels in every channel: white on white, or text under an opaque fill drawn later
  (`line_reason`). Text under a translucent image or fill is judged by that render contrast alone.
Rejections are counted by reason in `counts`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymupdf
from pymupdf import mupdf

from corpus.config_types import FRACTION, bounded
from operators.docs.boxes import BBox, area, intersection, mostly_inside, overlap_shares
from operators.docs.drawn_glyphs import DrawnGlyphs
from operators.docs.drawn_images import DrawnImage, drawn_images

FILLED, STROKED, CLIPPED = mupdf.FZ_STEXT_FILLED, mupdf.FZ_STEXT_STROKED, mupdf.FZ_STEXT_CLIPPED
#: characters whose Unicode value is a font's CID or glyph id: the font has no mapping to Unicode
UNMAPPED = mupdf.FZ_STEXT_UNICODE_IS_CID | mupdf.FZ_STEXT_UNICODE_IS_GID


@dataclass
class VisibilityConfig:
    """Thresholds of the visibility checks (all applied to text-layer lines)."""

    enabled: bool = True
    min_glyph_px: float = 6.0  # font size at the render scale, in pixels, below which text is unreadable
    min_contrast: int = 40  # grey levels (0-255) the line's rendered core band must span
    min_inside: float = bounded(0.9, FRACTION)  # share of a line's box that must lie on the page
    max_covered: float = bounded(0.1, FRACTION)  # share of a line's box that an image drawn later may cover (a hidden word)


def span_reason(span: dict[str, Any]) -> str | None:
    """Why a span of the text layer is not drawn, or None when it is."""
    flags = span.get("char_flags", FILLED)
    if span.get("alpha", 255) == 0 or not flags & (FILLED | STROKED):
        return "invisible"
    if flags & CLIPPED:
        return "clipped"
    return None


class LineCheck:
    """Visibility of the text-layer lines of one rendered page; see the module docstring."""

    def __init__(self, page: pymupdf.Page, display_list: pymupdf.DisplayList, pixels: np.ndarray, scale: float,
                 config: VisibilityConfig) -> None:
        self.pixels, self.scale, self.config = pixels, scale, config
        self.page_box = (0.0, 0.0, page.rect.width, page.rect.height)
        self.counts: Counter[str] = Counter()
        # images are the only later content that keeps ink contrast over text
        self.images: list[DrawnImage] = drawn_images(display_list) if page.get_images() else []
        self.image_boxes = np.array([image.bbox for image in self.images], dtype=np.float64).reshape(-1, 4)
        self.hiding_opacity = 1.0 - config.min_contrast / 255.0  # lets less than min_contrast of ink through
        self.display_list = display_list
        self.glyphs: DrawnGlyphs | None = None  # traced when a line first lies under an image
        self.blocks: list[dict[str, Any]] = []
        self.shown: Callable[[Sequence[float]], BBox] = tuple
        self.opaque_lines: np.ndarray | None = None  # boxes of the lines drawn opaque, found on first need

    def note_lines(self, blocks: list[dict[str, Any]], shown: Callable[[Sequence[float]], BBox]) -> None:
        """The page's text-layer blocks (`page.get_text("dict")`) and the map of their boxes onto the page
        as displayed: the text a translucent line may lie across."""
        self.blocks, self.shown, self.opaque_lines = blocks, shown, None

    def _across_text(self, box: BBox) -> bool:
        if self.opaque_lines is None:
            boxes = [self.shown(line["bbox"]) for block in self.blocks for line in block.get("lines", [])
                     if any(s["text"].strip() and s.get("alpha", 255) == 255 and span_reason(s) is None
                            for s in line["spans"])]
            self.opaque_lines = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        return bool(mostly_inside(self.opaque_lines, box).any())

    def _covered(self, box: BBox) -> bool:
        for i in np.flatnonzero(overlap_shares(self.image_boxes, box) > self.config.max_covered):
            image = self.images[i]
            if not image.hides(box, self.hiding_opacity, self.config.max_covered):
                continue
            if self.glyphs is None:
                self.glyphs = DrawnGlyphs(self.display_list)
            if self.glyphs.last_drawn(box) < image.seqno:
                return True
        return False

    def _contrast(self, box: BBox) -> int:
        s = self.scale
        h, w = self.pixels.shape[:2]
        y0, y1 = box[1] * s, box[3] * s
        ya, yb = int(y0 + (y1 - y0) / 4), int(np.ceil(y1 - (y1 - y0) / 4))
        xa, xb = int(box[0] * s), int(np.ceil(box[2] * s))
        core = self.pixels[max(ya, 0):min(max(yb, ya + 1), h), max(xa, 0):min(xb, w)]
        if not core.size:
            return 0
        return int(core.max()) - int(core.min()) if core.ndim == 2 else int(np.ptp(core.reshape(-1, core.shape[-1]), axis=0).max())

    def line_reason(self, box: BBox, size: float, translucent: bool = False) -> str | None:
        """Why a line (box in page points as displayed, font size in points, whether every span of it is
        drawn with fill opacity under 1) is not seen, or None."""
        cfg = self.config
        box_area = area(box)
        if box_area <= 0 or intersection(box, self.page_box) < cfg.min_inside * box_area:
            return "outside_page"
        if size * self.scale < cfg.min_glyph_px:
            return "too_small"
        if translucent and self._across_text(box):
            return "watermark"
        if self.images and self._covered(box):
            return "covered"
        if self._contrast(box) < cfg.min_contrast:
            return "low_contrast"
        return None

    def reject(self, reason: str) -> None:
        """Count one rejected line."""
        self.counts[reason] += 1
