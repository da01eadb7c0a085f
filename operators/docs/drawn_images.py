"""The images a page draws, in drawing order, with their opacity: what can hide text drawn before them.

`drawn_images(display_list)` runs a display list through a device that numbers every drawing call
(fills, strokes and text of each kind, shadings, images, image masks: the numbering of PyMuPDF's
`Page.get_bboxlog()` and of the `seqno` of `Page.get_texttrace()`) and returns one `DrawnImage` per
image: its number, its box in page points (as the display list draws the page, rotation applied), and
its opacity: the fill alpha it is drawn with (graphics state /ca) times the alpha of the transparency
groups around it, times, per pixel, its soft mask (/SMask, e.g. a PNG's alpha channel) or mask image.
Blend modes and soft-mask groups (graphics state /SMask) are not modelled: an image drawn under them
counts at the opacity above.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymupdf
from pymupdf import mupdf

from operators.docs.boxes import BBox, area, intersection

#: sample points per PDF point along a box's sides when an image's opacity varies over it
SAMPLES_PER_POINT = 1.0
UNIT = mupdf.FzRect(mupdf.FzRect.Fixed_UNIT)  # an image's own space, mapped onto the page by its matrix


@dataclass
class DrawnImage:
    """One image drawn on the page: drawing number, box in page points, opacity (see the module docstring)."""

    seqno: int
    bbox: BBox
    alpha: float  # fill alpha times the alpha of the enclosing transparency groups
    ctm: tuple[float, float, float, float, float, float]  # maps the image's unit square onto the page
    mask: mupdf.FzImage | None = None  # per-pixel opacity (soft mask or mask image), decoded on first use
    _opacity: np.ndarray | None = field(default=None, repr=False)

    def _mask_opacity(self) -> np.ndarray:
        """The mask's opacity per pixel (0..1), rows top to bottom as the image's unit square maps them."""
        if self._opacity is None:
            pix = pymupdf.Pixmap(mupdf.fz_get_unscaled_pixmap_from_image(self.mask))
            values = np.frombuffer(pix.samples_mv, dtype=np.uint8).reshape(pix.height, pix.width, pix.n)
            self._opacity = values[..., 0] / 255.0
        return self._opacity

    def hides(self, box: BBox, opaque: float, share: float) -> bool:
        """Whether more than `share` of `box` (page points) lies under pixels of this image that are at
        least `opaque` opaque."""
        size = area(box)
        if size <= 0 or self.alpha < opaque or intersection(box, self.bbox) <= share * size:
            return False
        if self.mask is None:  # uniform opacity: the image's box hides what it covers
            return True
        x0, y0 = max(box[0], self.bbox[0]), max(box[1], self.bbox[1])  # sample where the boxes meet
        x1, y1 = min(box[2], self.bbox[2]), min(box[3], self.bbox[3])
        nx = max(2, int(np.ceil((x1 - x0) * SAMPLES_PER_POINT)))
        ny = max(2, int(np.ceil((y1 - y0) * SAMPLES_PER_POINT)))
        px, py = (g.ravel() for g in np.meshgrid(x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx,
                                                 y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny))
        a, b, c, d, e, f = self.ctm
        det = a * d - b * c
        if det == 0:
            return False
        u = (d * (px - e) - c * (py - f)) / det  # the points in the image's unit square
        v = (a * (py - f) - b * (px - e)) / det
        inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
        opacity = self._mask_opacity()
        h, w = opacity.shape
        col = np.clip((u[inside] * w).astype(np.int64), 0, w - 1)
        row = np.clip((v[inside] * h).astype(np.int64), 0, h - 1)
        hidden = np.count_nonzero(self.alpha * opacity[row, col] >= opaque) * (x1 - x0) * (y1 - y0) / px.size
        return hidden > share * size


class _ImageDevice(mupdf.FzDevice2):
    """Numbers the drawing calls as PyMuPDF's bbox log does and records the images with their opacity."""

    def __init__(self) -> None:
        super().__init__()
        for name in ("fill_path", "stroke_path", "fill_text", "stroke_text", "ignore_text", "fill_shade",
                     "fill_image", "fill_image_mask", "begin_group", "end_group"):
            getattr(self, f"use_virtual_{name}")()
        self.seqno = 0
        self.group_alpha = [1.0]
        self.images: list[DrawnImage] = []

    def count(self, ctx: Any, *args: Any) -> None:
        self.seqno += 1

    fill_path = stroke_path = fill_text = stroke_text = ignore_text = fill_shade = fill_image_mask = count

    def fill_image(self, ctx: Any, image: Any, ctm: Any, alpha: float, color_params: Any) -> None:
        r = mupdf.ll_fz_transform_rect(UNIT.internal(), ctm)
        mask = mupdf.FzImage(mupdf.ll_fz_keep_image(image.mask)) if image.mask else None
        self.images.append(DrawnImage(self.seqno, (r.x0, r.y0, r.x1, r.y1), alpha * self.group_alpha[-1],
                                      (ctm.a, ctm.b, ctm.c, ctm.d, ctm.e, ctm.f), mask))
        self.seqno += 1

    def begin_group(self, ctx: Any, area: Any, cs: Any, isolated: int, knockout: int, blendmode: int,
                    alpha: float) -> None:
        self.group_alpha.append(self.group_alpha[-1] * alpha)

    def end_group(self, ctx: Any) -> None:
        self.group_alpha.pop()


def drawn_images(display_list: pymupdf.DisplayList) -> list[DrawnImage]:
    """The images `display_list` draws, in drawing order, numbered among all its drawing calls."""
    device = _ImageDevice()
    identity, everywhere = mupdf.FzMatrix(), mupdf.FzRect(mupdf.FzRect.Fixed_INFINITE)
    mupdf.fz_run_display_list(display_list.this, device, identity, everywhere, mupdf.FzCookie())
    mupdf.fz_close_device(device)
    return device.images
