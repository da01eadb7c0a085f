"""When a page draws each glyph: the drawing number of every character, from MuPDF's text trace.

`DrawnGlyphs(display_list)` traces the text a display list draws (PyMuPDF's texttrace device: each
character's box in page points, as the display list draws the page, and the number of its drawing call,
numbered as `operators.docs.drawn_images` numbers them). `last_drawn(box)` is the largest number among
the glyphs lying mostly (at least half their box) inside `box`: when a text-layer line was drawn. A
glyph much larger than the line (a big watermark letter across it) does not lie mostly inside it.
"""
from __future__ import annotations

import numpy as np
import pymupdf
from pymupdf import extra, mupdf

from operators.docs.boxes import BBox, mostly_inside


class DrawnGlyphs:
    """Boxes and drawing numbers of the glyphs of one display list; see the module docstring."""

    def __init__(self, display_list: pymupdf.DisplayList) -> None:
        spans: list[dict] = []
        device = extra.JM_new_texttrace_device(spans)
        identity, everywhere = mupdf.FzMatrix(), mupdf.FzRect(mupdf.FzRect.Fixed_INFINITE)
        mupdf.fz_run_display_list(display_list.this, device, identity, everywhere, mupdf.FzCookie())
        mupdf.fz_close_device(device)
        boxes = [char[3] for span in spans for char in span["chars"]]
        self.boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        self.seqnos = np.array([span["seqno"] for span in spans for _ in span["chars"]], dtype=np.int64)

    def last_drawn(self, box: BBox) -> int:
        """Largest drawing number of the glyphs lying mostly inside `box`; -1 when there is none."""
        inside = mostly_inside(self.boxes, box)
        return int(self.seqnos[inside].max()) if inside.any() else -1
