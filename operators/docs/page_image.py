"""Page pixels as they travel between operators: raw 8-bit pixels, gray when the page has no colour.

PNG-encoding every rendered page only to decode it one stage later cost more than rendering it, so a
PAGE_SCHEMA row carries the pixels themselves (`image`, row-major, `channels` 1 or 3) and only the
sample stage encodes JPEG. A page whose three channels are equal travels (and is stored) as gray.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def to_page_pixels(rgb: np.ndarray, color: str = "auto") -> np.ndarray:
    """`rgb` (H, W, 3) as stored: (H, W) gray when `color` is "gray", or "auto" and the page has no colour."""
    if color == "rgb":
        return rgb
    if color == "gray":
        return np.ascontiguousarray((rgb @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8))
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    return rgb


def pixel_columns(pixels: np.ndarray) -> dict[str, Any]:
    """The PAGE_SCHEMA columns that hold `pixels`: image bytes, width, height, channels."""
    h, w = pixels.shape[:2]
    return {"image": np.ascontiguousarray(pixels).tobytes(), "width": w, "height": h,
            "channels": 1 if pixels.ndim == 2 else pixels.shape[2]}


def page_pixels(row: dict[str, Any]) -> np.ndarray:
    """The pixels of a PAGE_SCHEMA row: (H, W) for gray pages, (H, W, 3) for colour ones."""
    h, w, c = int(row["height"]), int(row["width"]), int(row.get("channels") or 3)
    arr = np.frombuffer(row["image"], dtype=np.uint8)
    return arr.reshape((h, w) if c == 1 else (h, w, c))


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) pixels, expanding gray."""
    return np.repeat(pixels[..., None], 3, axis=2) if pixels.ndim == 2 else pixels
