"""OCR lines as page regions: row fragments joined, lines grouped into blocks, column-aware reading order.

Contract: `ocr_regions(lines, page_height, dpi, min_confidence, group_blocks, block_gap)` turns
`OcrLine`s (`operators.docs.ocr_backends`) into REGION_TYPE dicts: one "line" region per recognised line
(origin "ocr", its confidence) plus, with `group_blocks`, "block" regions grouping neighbouring lines
(`group_lines`), both in column-aware reading order (`operators.docs.text_regions.reading_order`).
`font_size` of a region is estimated from its line height, in points (line height / 1.2 at the page's
dpi; pixels if dpi is unknown).
"""
from __future__ import annotations

from statistics import mean
from typing import Any

import numpy as np

from operators.docs.ocr_backends import OcrLine
from operators.docs.text_regions import reading_order


def group_lines(lines: list[OcrLine], max_gap: float) -> list[list[int]]:
    """Indices of `lines` grouped into blocks: a line joins the block whose last line is just above it
    (gap <= max_gap line heights) and overlaps it horizontally; blocks in top-to-bottom order."""
    blocks: list[list[int]] = []
    for i in sorted(range(len(lines)), key=lambda i: (lines[i].bbox[1], lines[i].bbox[0])):
        x0, y0, x1, y1 = lines[i].bbox
        h = max(y1 - y0, 1.0)
        for block in blocks:
            bx0, by0, bx1, by1 = lines[block[-1]].bbox
            overlap = min(x1, bx1) - max(x0, bx0)
            if 0 <= y0 - by1 + 0.3 * h <= (max_gap + 0.3) * h and overlap > 0.3 * min(x1 - x0, bx1 - bx0):
                block.append(i)
                break
        else:
            blocks.append([i])
    return blocks


def _union(boxes: list[tuple[float, float, float, float]]) -> list[float]:
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def join_row_fragments(lines: list[OcrLine], max_gap: float = 1.5) -> list[OcrLine]:
    """Lines the detector cut at a wide word gap, joined: fragments that overlap vertically by more
    than half the lower one's height and lie at most `max_gap` line heights apart become one line
    (texts joined by a space, the lower confidence)."""
    out: list[OcrLine] = []
    for ln in sorted(lines, key=lambda ln: ln.bbox[0]):
        x0, y0, x1, y1 = ln.bbox
        for k, prev in enumerate(out):
            px0, py0, px1, py1 = prev.bbox
            h = max(y1 - y0, py1 - py0, 1.0)
            if min(y1, py1) - max(y0, py0) > 0.5 * min(y1 - y0, py1 - py0) and -0.5 * h <= x0 - px1 <= max_gap * h:
                out[k] = OcrLine((px0, min(y0, py0), max(x1, px1), max(y1, py1)), f"{prev.text.strip()} {ln.text.strip()}",
                                 min(prev.confidence, ln.confidence))
                break
        else:
            out.append(ln)
    return out


def ocr_regions(lines: list[OcrLine], page_height: float, dpi: float | None, min_confidence: float = 0.0,
                group_blocks: bool = True, block_gap: float = 0.8) -> list[dict[str, Any]]:
    """Line and block regions (REGION_TYPE dicts) from OCR lines (row fragments joined), in reading order."""
    lines = join_row_fragments([ln for ln in lines if ln.text.strip() and ln.confidence >= min_confidence])
    to_pt = 72.0 / dpi / 1.2 if dpi else 1.0 / 1.2
    groups = group_lines(lines, block_gap) if group_blocks else [[i] for i in range(len(lines))]
    order = reading_order([tuple(_union([lines[i].bbox for i in g])) for g in groups], page_height)
    regions: list[dict[str, Any]] = []
    n_lines = 0
    for rank, gi in enumerate(order):
        group = groups[gi]
        heights = [(lines[i].bbox[3] - lines[i].bbox[1]) * to_pt for i in group]
        if group_blocks:
            regions.append({
                "bbox": _union([lines[i].bbox for i in group]),
                "text": "\n".join(lines[i].text.strip() for i in group),
                "granularity": "block", "order": rank, "font_size": float(np.median(heights)),
                "origin": "ocr", "confidence": mean(lines[i].confidence for i in group),
            })
        for i, h in zip(group, heights):
            regions.append({
                "bbox": list(lines[i].bbox), "text": lines[i].text.strip(), "granularity": "line",
                "order": n_lines, "font_size": h, "origin": "ocr", "confidence": lines[i].confidence,
            })
            n_lines += 1
    return regions
