"""Which text-layer lines a reader can see on the rendered page: only visible text becomes a target.

`LineCheck` judges spans and lines of `page.get_text("dict")` against the page and its render:
- a span is "invisible" when it is neither filled nor stroked (render mode 3, the hidden OCR layer of
  scanned PDFs) or fully transparent, and "clipped" when MuPDF marks its characters as clipped away;
  such spans are dropped from their line (`span_reason`);
- a line is "outside_page" when less than `min_inside` of its box lies on the page, "too_small" when
  its font size is under `min_glyph_px` pixels at the render scale, "covered" when an image drawn
  after it covers more than `max_covered` of its box (drawing order from MuPDF's bbox log of the
  page's display list, run only on pages that have images), and "low_contrast" when the rendered
  pixels of the core band of its box (the middle half of its height) span less than `min_contrast`
  grey levels in every channel: white on white, or text under an opaque fill drawn later (`line_reason`).
Rejections are counted by reason in `counts`.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymupdf
from pymupdf import mupdf

FILLED, STROKED, CLIPPED = mupdf.FZ_STEXT_FILLED, mupdf.FZ_STEXT_STROKED, mupdf.FZ_STEXT_CLIPPED
#: characters whose Unicode value is a font's CID or glyph id: the font has no mapping to Unicode
UNMAPPED = mupdf.FZ_STEXT_UNICODE_IS_CID | mupdf.FZ_STEXT_UNICODE_IS_GID

BBox = tuple[float, float, float, float]


@dataclass
class VisibilityConfig:
    """Thresholds of the visibility checks (all applied to text-layer lines)."""

    enabled: bool = True
    min_glyph_px: float = 6.0  # font size at the render scale, in pixels, below which text is unreadable
    min_contrast: int = 40  # grey levels (0-255) the line's rendered core band must span
    min_inside: float = 0.9  # share of a line's box that must lie on the page
    max_covered: float = 0.1  # share of a line's box that an image drawn later may cover (a hidden word)


def span_reason(span: dict[str, Any]) -> str | None:
    """Why a span of the text layer is not drawn, or None when it is."""
    flags = span.get("char_flags", FILLED)
    if span.get("alpha", 255) == 0 or not flags & (FILLED | STROKED):
        return "invisible"
    if flags & CLIPPED:
        return "clipped"
    return None


def _area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def drawing_log(display_list: pymupdf.DisplayList) -> list[tuple[str, BBox]]:
    """(kind, bbox) of everything the display list draws, in drawing order ("fill-text", "fill-image", ...)."""
    log: list[tuple[str, BBox]] = []
    device = pymupdf.JM_new_bbox_device(log, False)
    identity, everywhere = mupdf.FzMatrix(), mupdf.FzRect(mupdf.FzRect.Fixed_INFINITE)
    mupdf.fz_run_display_list(display_list.this, device, identity, everywhere, mupdf.FzCookie())
    mupdf.fz_close_device(device)
    return log


class LineCheck:
    """Visibility of the text-layer lines of one rendered page; see the module docstring."""

    def __init__(self, page: pymupdf.Page, display_list: pymupdf.DisplayList, pixels: np.ndarray, scale: float,
                 config: VisibilityConfig) -> None:
        self.pixels, self.scale, self.config = pixels, scale, config
        self.page_box = (0.0, 0.0, page.rect.width, page.rect.height)
        self.counts: Counter[str] = Counter()
        self.texts: np.ndarray | None = None
        self.images: list[tuple[int, BBox]] = []
        if page.get_images():  # images are the only later content that keeps ink contrast over text
            log = drawing_log(display_list)
            self.images = [(i, b) for i, (kind, b) in enumerate(log) if kind.endswith("image")]
            texts = [(i, *b) for i, (kind, b) in enumerate(log) if kind.endswith("text")]
            self.texts = np.array(texts, dtype=np.float64).reshape(-1, 5)

    def _covered(self, box: BBox) -> bool:
        area = _area(box)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for index, image in self.images:
            if _intersection(box, image) <= self.config.max_covered * area:
                continue
            t = self.texts
            drawn = t[(t[:, 1] <= cx) & (cx <= t[:, 3]) & (t[:, 2] <= cy) & (cy <= t[:, 4]), 0]
            if not len(drawn) or drawn.max() < index:
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

    def line_reason(self, box: BBox, size: float) -> str | None:
        """Why a line (box in page points as displayed, font size in points) is not seen, or None."""
        cfg = self.config
        area = _area(box)
        if area <= 0 or _intersection(box, self.page_box) < cfg.min_inside * area:
            return "outside_page"
        if size * self.scale < cfg.min_glyph_px:
            return "too_small"
        if self.images and self._covered(box):
            return "covered"
        if self._contrast(box) < cfg.min_contrast:
            return "low_contrast"
        return None

    def reject(self, reason: str) -> None:
        """Count one rejected line."""
        self.counts[reason] += 1
