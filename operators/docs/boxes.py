"""Axis-aligned boxes (x0, y0, x1, y1) in one unit: area, intersection, and how much of many boxes lies in one."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BBox = tuple[float, float, float, float]


def area(b: Sequence[float]) -> float:
    """Area of a box; 0 when it is empty or inverted."""
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    """Area of the intersection of two boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _intersections(boxes: np.ndarray, box: Sequence[float]) -> np.ndarray:
    w = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    return w * h


def mostly_inside(boxes: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Mask of the rows of `boxes` (n x 4) with positive area and at least half of it inside `box`."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return (areas > 0) & (_intersections(boxes, box) >= 0.5 * areas)


def overlap_shares(boxes: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Share of `box` that each row of `boxes` (n x 4) covers; zeros when `box` is empty."""
    size = area(box)
    return _intersections(boxes, box) / size if size > 0 else np.zeros(len(boxes))
