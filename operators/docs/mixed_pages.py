"""Mixed pages: a text layer plus scanned parts (a pasted scan, a figure with text in it).

`image_areas(regions, image_boxes, cfg)`: the boxes of the page's images (pixels) worth reading by
OCR: at least `min_area` of the page, `min_side_px` on each side, and covered by visible text-layer
lines for at most `max_text_cover` of their area (an OCR page's own image under its text is not).
`merge_regions(layer, ocr, page_height)`: both region lists (each a sequence of a block followed by its
lines, as `operators.docs.text_regions` and `operators.docs.ocr.ocr_regions` make them) as one, blocks in
column-aware reading order, OCR lines that repeat a text-layer line (overlapping it by more than half)
dropped, `order` renumbered.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corpus.config_types import FRACTION, bounded
from operators.docs.text_regions import reading_order

Region = dict[str, Any]


@dataclass
class ImageAreaConfig:
    """Which image areas of a text-layer page are read by OCR."""

    enabled: bool = True
    min_area: float = bounded(0.02, FRACTION)  # share of the page
    min_side_px: float = 24.0
    max_text_cover: float = bounded(0.5, FRACTION)  # share of the image area already covered by text-layer lines


def _area(b: Any) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inter(a: Any, b: Any) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def image_areas(regions: list[Region], image_boxes: list[Any], width: int, height: int,
                cfg: ImageAreaConfig) -> list[tuple[int, int, int, int]]:
    """Integer pixel boxes of the images to OCR; see the module docstring."""
    lines = [r["bbox"] for r in regions if r["granularity"] == "line"]
    out = []
    for b in image_boxes or []:
        x0, y0 = max(0, int(b[0])), max(0, int(b[1]))
        x1, y1 = min(width, int(b[2] + 0.999)), min(height, int(b[3] + 0.999))
        box = (x0, y0, x1, y1)
        if x1 - x0 < cfg.min_side_px or y1 - y0 < cfg.min_side_px or _area(box) < cfg.min_area * width * height:
            continue
        if sum(_inter(box, ln) for ln in lines) <= cfg.max_text_cover * _area(box):
            out.append(box)
    return out


def _groups(regions: list[Region]) -> list[tuple[Region, list[Region]]]:
    groups: list[tuple[Region, list[Region]]] = []
    for r in regions:
        if r["granularity"] == "block":
            groups.append((r, []))
        elif groups:
            groups[-1][1].append(r)
    return groups


def merge_regions(layer: list[Region], ocr: list[Region], page_height: float) -> list[Region]:
    """Text-layer and OCR regions as one list in reading order; see the module docstring."""
    layer_lines = [r["bbox"] for r in layer if r["granularity"] == "line"]
    groups = _groups(layer)
    for block, lines in _groups(ocr):
        fresh = [ln for ln in lines if not any(_inter(ln["bbox"], t) > 0.5 * _area(ln["bbox"]) for t in layer_lines)]
        if fresh:
            text = "\n".join(ln["text"] for ln in fresh)
            bbox = [min(ln["bbox"][0] for ln in fresh), min(ln["bbox"][1] for ln in fresh),
                    max(ln["bbox"][2] for ln in fresh), max(ln["bbox"][3] for ln in fresh)]
            groups.append(({**block, "text": text, "bbox": bbox}, fresh))
    out: list[Region] = []
    n_lines = 0
    for rank, gi in enumerate(reading_order([tuple(g[0]["bbox"]) for g in groups], page_height)):
        block, lines = groups[gi]
        out.append({**block, "order": rank})
        for ln in lines:
            out.append({**ln, "order": n_lines})
            n_lines += 1
    return out
