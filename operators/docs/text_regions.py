"""Text regions of a PDF page from its text layer, in column-aware reading order.

`extract_regions(page, scale)` reads `page.get_text("dict")` and returns region dicts in the shape of
`schemas.tables.REGION_TYPE`: one per text block (granularity "block", its lines joined by "\\n") and
one per text line (granularity "line"), with bboxes in pixels of a render at `scale` (pixels per PDF
point) of the page as displayed (page rotation applied), clipped to the page. `order` is the reading order
among regions of the same granularity.
Given a `LineCheck`, only visible spans and lines are kept (`operators.docs.visibility`); texts are clean
Unicode (`operators.docs.unicode_text`) and lines with unmapped characters are dropped.

Reading order (`reading_order`): PyMuPDF's `sort=True` orders blocks by rows, which interleaves the two
columns of a paper. Instead, blocks narrower than `WIDE_FRACTION` of the text area are assigned to
columns, largest first: a block joins the column covering most of its width, or starts a new one; wide
blocks and blocks straddling two columns (titles, centred author lines, full-width figures or tables)
cut the page into horizontal bands; inside a band the columns are read left to right, each top to
bottom. A band whose columns are short (a table's cells) is read row by row instead.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import median
from typing import Any, NamedTuple

import pymupdf

from operators.docs.unicode_text import clean_text
from operators.docs.visibility import UNMAPPED, LineCheck, span_reason

BBox = tuple[float, float, float, float]

#: blocks wider than this fraction of the text area do not define columns
WIDE_FRACTION = 0.6
#: a band is read column by column only when at least two columns are this tall (fraction of page height)
MIN_COLUMN_HEIGHT = 0.12


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _columns(bboxes: Sequence[BBox]) -> tuple[dict[int, int], list[int]]:
    """Assign blocks to columns (largest blocks first define them); the rest span several columns."""
    left = min(b[0] for b in bboxes)
    width = max(max(b[2] for b in bboxes) - left, 1e-6)
    cols: list[list[float]] = []
    members: list[list[int]] = []
    spanning: list[int] = []
    by_area = sorted(range(len(bboxes)), key=lambda i: -(bboxes[i][2] - bboxes[i][0]) * (bboxes[i][3] - bboxes[i][1]))
    for i in by_area:
        x0, _, x1, _ = bboxes[i]
        bw = max(x1 - x0, 1e-6)
        if bw >= WIDE_FRACTION * width:
            spanning.append(i)
            continue
        shares = [_overlap(x0, x1, c0, c1) / bw for c0, c1 in cols]
        best = max(range(len(cols)), key=shares.__getitem__, default=None)
        if best is not None and shares[best] > 0.5:
            cols[best] = [min(cols[best][0], x0), max(cols[best][1], x1)]
            members[best].append(i)
        elif sum(s > 0.1 for s in shares) >= 2:
            spanning.append(i)
        else:
            cols.append([x0, x1])
            members.append([i])
    col_of = {}
    for rank, c in enumerate(sorted(range(len(cols)), key=lambda c: cols[c][0])):
        for i in members[c]:
            col_of[i] = rank
    return col_of, spanning


def reading_order(bboxes: Sequence[BBox], page_height: float) -> list[int]:
    """Indices of `bboxes` (x0, y0, x1, y1 in any one unit) in column-aware reading order."""
    if len(bboxes) <= 1:
        return list(range(len(bboxes)))
    col_of, spanning = _columns(bboxes)
    spanning.sort(key=lambda i: (bboxes[i][1], bboxes[i][0]))
    order: list[int] = []
    remaining = set(col_of)
    for cut in spanning + [None]:
        limit = bboxes[cut][1] if cut is not None else float("inf")
        band = [i for i in remaining if (bboxes[i][1] + bboxes[i][3]) / 2 < limit]
        remaining -= set(band)
        order += _order_band(band, bboxes, col_of, page_height)
        if cut is not None:
            order.append(cut)
    return order


def _order_band(band: list[int], bboxes: Sequence[BBox], col_of: dict[int, int], page_height: float) -> list[int]:
    heights: dict[int, float] = {}
    for i in band:
        heights[col_of[i]] = heights.get(col_of[i], 0.0) + bboxes[i][3] - bboxes[i][1]
    tall = sum(h >= MIN_COLUMN_HEIGHT * page_height for h in heights.values())
    if tall >= 2 or len(heights) == 1:
        return sorted(band, key=lambda i: (col_of[i], bboxes[i][1], bboxes[i][0]))
    return sorted(band, key=lambda i: (round(bboxes[i][1] / 4), bboxes[i][0]))


def _clip(b: Sequence[float], scale: float, w: float, h: float) -> list[float]:
    x0, y0, x1, y1 = (v * scale for v in b)
    return [min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h)]


def _region(bbox: list[float], text: str, granularity: str, order: int, font_size: float) -> dict[str, Any]:
    return {
        "bbox": bbox,
        "text": text,
        "granularity": granularity,
        "order": order,
        "font_size": font_size,
        "origin": "text_layer",
        "confidence": None,
    }


TEXT_FLAGS = pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES
#: a line whose suspect characters (private use, U+FFFD, controls) exceed this share is "unmapped"
MAX_SUSPECT_SHARE = 0.1


def _union(boxes: Iterable[BBox]) -> BBox:
    x0, y0, x1, y1 = zip(*boxes)
    return (min(x0), min(y0), max(x1), max(y1))


class LineRead(NamedTuple):
    """A text-layer line as read: bbox in points (None without text), clean text, font size, rejection
    reason, and whether every inked span is drawn with fill opacity under 1."""

    bbox: BBox | None
    text: str
    size: float
    reason: str | None
    translucent: bool = False


def _line(line: dict[str, Any], check: LineCheck | None) -> LineRead:
    """A line read from its spans: MuPDF's line bbox when every span is kept, else the union of the kept
    spans' boxes."""
    spans = line["spans"]
    if check is not None:
        kept = []
        for s in spans:
            if s["text"].strip() and (why := span_reason(s)) is not None:
                check.reject(why)  # counted per span: an invisible span hides nothing else on its line
            else:
                kept.append(s)
        spans = kept if len(kept) < len(spans) else spans
    text = "".join(s["text"] for s in spans).strip()
    if not text:
        return LineRead(None, "", 0.0, None)
    clean, removed = clean_text(text)
    unmapped = removed > MAX_SUSPECT_SHARE * len(text) or any(s.get("char_flags", 0) & UNMAPPED for s in spans)
    inked = [s for s in spans if s["text"].strip()]
    bbox = tuple(line["bbox"]) if spans is line["spans"] else _union(s["bbox"] for s in inked)
    return LineRead(bbox, clean.strip(), max(s["size"] for s in inked),
                    "unmapped" if unmapped or not clean.strip() else None,
                    all(s.get("alpha", 255) < 255 for s in inked))


def extract_regions(page: pymupdf.Page, scale: float, display_list: pymupdf.DisplayList | None = None,
                    check: LineCheck | None = None) -> list[dict[str, Any]]:
    """Block and line regions of `page`'s text layer in reading order, bboxes in render pixels.

    Given the page's `display_list` (already interpreted for rendering), the text is read from it
    instead of interpreting the page a second time (unrotated pages only: a display list's text is in
    rotated coordinates, while the code below rotates text-layer coordinates itself). Texts are clean
    Unicode (`operators.docs.unicode_text`); a line with unmapped characters (no ToUnicode: CID or glyph
    ids, U+FFFD, private use over `MAX_SUSPECT_SHARE`) is dropped and counted as "unmapped" in
    `check.counts` (also without visibility checks: `check` with `enabled` false). Given a `check`,
    only visible spans and lines are kept (`operators.docs.visibility`), the others counted by reason."""
    w, h = page.rect.width * scale, page.rect.height * scale
    rotation = page.rotation  # read once: every read walks the page dictionary (0.7 ms a page)
    rot = page.rotation_matrix  # text-layer coordinates are unrotated; the render is rotated

    def shown(b: Sequence[float]) -> BBox:
        if not rotation:  # the common case: no Rect/Matrix objects per line (1.4 ms a page)
            return tuple(b)
        return tuple(pymupdf.Rect(b) * rot)

    visible = check is not None and check.config.enabled
    textpage = None
    if display_list is not None and rotation == 0:
        textpage = pymupdf.TextPage(display_list.get_textpage(TEXT_FLAGS))
        textpage.parent = page
    dict_blocks = page.get_text("dict", flags=TEXT_FLAGS, textpage=textpage)["blocks"]
    if visible:
        check.note_lines(dict_blocks, shown)
    blocks = []
    for block in dict_blocks:
        lines, dropped = [], False
        for line in block.get("lines", []):
            bbox, text, size, why, translucent = _line(line, check if visible else None)
            if bbox is None:
                continue
            dropped = dropped or bbox != tuple(line["bbox"])
            box = shown(bbox)
            if why is None and visible:
                why = check.line_reason(box, size, translucent)
            if why is not None:
                if check is not None:
                    check.reject(why)
                dropped = True
                continue
            lines.append((box, text, size))
        if lines:  # MuPDF's block bbox unless lines or spans were left out
            blocks.append((_union(b for b, _, _ in lines) if dropped else shown(block["bbox"]), lines))

    order = reading_order([b[0] for b in blocks], page.rect.height)
    regions: list[dict[str, Any]] = []
    n_lines = 0
    for rank, bi in enumerate(order):
        bbox, lines = blocks[bi]
        text = "\n".join(t for _, t, _ in lines)
        regions.append(_region(_clip(bbox, scale, w, h), text, "block", rank, median(s for _, _, s in lines)))
        for lb, lt, ls in lines:
            regions.append(_region(_clip(lb, scale, w, h), lt, "line", n_lines, ls))
            n_lines += 1
    return regions
