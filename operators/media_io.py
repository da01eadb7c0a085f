"""Media helpers shared by the image and video operators: reading an input's bytes from a local path or an
fsspec URL with a size cap, and the pixel budget's target size."""
from __future__ import annotations

import math
from pathlib import Path

from operators.base import Reject
from schemas.tables import QUARANTINE


def read_source(source: str, max_bytes: int) -> bytes:
    """The bytes of `source` (a local path or any fsspec URL).

    Raises `Reject` (quarantine, `too_large`) past `max_bytes`, `FileNotFoundError` when it is missing.
    """
    from corpus.storage import is_url

    if is_url(source):
        import fsspec

        with fsspec.open(source, "rb") as f:
            data = f.read(max_bytes + 1)
    else:
        p = Path(source)
        size = p.stat().st_size
        if size > max_bytes:
            raise Reject(f"file is {size} bytes, over the {max_bytes} byte limit", QUARANTINE, "too_large")
        data = p.read_bytes()
    if len(data) > max_bytes:
        raise Reject(f"file is over the {max_bytes} byte limit", QUARANTINE, "too_large")
    return data


def source_ext(source: str, default: str) -> str:
    """The lower-case extension of `source` without the dot (query strings ignored), or `default`."""
    name = source.split("?", 1)[0].rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext.isalnum() else default


def fit_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most `max_pixels` pixels (no upscaling)."""
    if width * height <= max_pixels:
        return width, height
    s = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * s)), max(1, math.floor(height * s))
