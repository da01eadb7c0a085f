"""OCR only where it can pay: cheap upper bounds on the characters a page (or an image area) can hold.

Contract:
- `ink_char_bound(pixels, cfg) -> (n_components, bound)`: before detection, from the ink alone. The
  image (gray or RGB) is shrunk so its longer side is at most `work_side` pixels; ink is every pixel
  that differs from the background (the most common gray level) by at least `min_contrast`; each
  8-connected ink component whose height lies in [`min_glyph_px`, `max_glyph_share` x the longer side]
  is glyph-like and can hold at most ceil(width / (`min_char_aspect` x height)) characters (several
  touching letters form one component; the narrowest letters are about a quarter as wide as tall).
  Specks below `min_glyph_px`, rules and chart strokes taller than a line of text hold none.
- `box_char_bound(quads, cfg) -> bound`: after detection, the characters the detected lines can hold,
  ceil(width / (`min_box_aspect` x height)) each (detector boxes are padded: a line's box is about
  2.5 x its text's height, so a tenth of the box height is below the narrowest letter).
- `verdict(...)`: the skip reason when the bound is below `min_page_chars` (the page filter's
  threshold, `operators.docs.filters.RegionFilterConfig.min_page_chars`): "blank_page" (no glyph-like
  ink at all), "no_glyph_ink" (some, but too little for the filter) before detection,
  "too_little_detected_text" after it. The bounds only ever over-count, so a skipped page is one the
  page filter would have dropped: no text a page really shows is lost, and the reason is written in the
  page's `ocr_skip` column (stats and errors tables).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from corpus.config_types import AT_LEAST_ONE, FRACTION, POSITIVE, bounded

BLANK_PAGE = "blank_page"
NO_GLYPH_INK = "no_glyph_ink"
TOO_LITTLE_DETECTED_TEXT = "too_little_detected_text"


@dataclass
class OcrGateConfig:
    """When OCR is skipped or stopped early, and the image areas of mixed pages worth it."""

    enabled: bool = True
    # the page filter's threshold: the docs pipeline sets it from filter.min_page_chars (owned there);
    # 0 turns the page gates off (`enabled: false` in a build)
    min_page_chars: int = 30
    min_area_chars: int = 4  # an image area of a text-layer page is read when it can hold this many
    work_side: int = bounded(1024, AT_LEAST_ONE)  # longer side of the image the ink test runs on
    min_contrast: int = bounded(40, AT_LEAST_ONE)  # gray levels between ink and background
    min_glyph_px: int = bounded(3, AT_LEAST_ONE)  # at `work_side`: smaller components are specks
    max_glyph_share: float = bounded(0.08, FRACTION)  # taller components (of the longer side) are drawings
    min_char_aspect: float = bounded(0.2, POSITIVE)  # narrowest character width / component height
    min_box_aspect: float = bounded(0.1, POSITIVE)  # narrowest character width / detected box height


def _gray(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    return (pixels[:, :, 0].astype(np.uint16) * 77 + pixels[:, :, 1].astype(np.uint16) * 150
            + pixels[:, :, 2].astype(np.uint16) * 29 >> 8).astype(np.uint8)


def ink_char_bound(pixels: np.ndarray, cfg: OcrGateConfig) -> tuple[int, int]:
    """(glyph-like components, the characters they can hold) of an image; see the module docstring."""
    import cv2

    gray = _gray(pixels)
    h, w = gray.shape
    scale = min(1.0, cfg.work_side / max(h, w, 1))
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    background = int(np.argmax(np.bincount(gray.ravel(), minlength=256)))
    ink = (np.abs(gray.astype(np.int16) - background) >= cfg.min_contrast).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    widths, heights = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    glyph = (heights >= cfg.min_glyph_px) & (heights <= cfg.max_glyph_share * max(gray.shape))
    chars = np.ceil(widths[glyph] / (cfg.min_char_aspect * heights[glyph]))
    return int(glyph.sum()), int(chars.sum())


def box_char_bound(quads: list[np.ndarray], cfg: OcrGateConfig) -> int:
    """The characters detected line boxes can hold; see the module docstring."""
    total = 0
    for q in quads:
        q = np.asarray(q, dtype=np.float32).reshape(-1, 2)
        width = float(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3])))
        height = float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]), 1.0))
        long, short = max(width, height), min(width, height)  # vertical text: the crop is turned upright
        total += math.ceil(long / (cfg.min_box_aspect * max(short, 1.0)))
    return total


def ink_verdict(pixels: np.ndarray, cfg: OcrGateConfig) -> str | None:
    """"blank_page" / "no_glyph_ink" when the page's ink cannot hold `min_page_chars`, else None."""
    if not cfg.enabled or cfg.min_page_chars <= 0:
        return None
    n_glyphs, bound = ink_char_bound(pixels, cfg)
    if bound >= cfg.min_page_chars:
        return None
    return BLANK_PAGE if n_glyphs == 0 else NO_GLYPH_INK


def detection_verdict(quads: list[np.ndarray], cfg: OcrGateConfig) -> str | None:
    """"too_little_detected_text" when the detected lines cannot hold `min_page_chars`, else None."""
    if not cfg.enabled or cfg.min_page_chars <= 0 or box_char_bound(quads, cfg) >= cfg.min_page_chars:
        return None
    return TOO_LITTLE_DETECTED_TEXT


def area_worth_reading(pixels: np.ndarray, cfg: OcrGateConfig) -> bool:
    """Whether an image area of a text-layer page can hold `min_area_chars` characters."""
    return not cfg.enabled or ink_char_bound(pixels, cfg)[1] >= cfg.min_area_chars
