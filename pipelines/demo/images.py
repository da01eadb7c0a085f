"""Generated demo images with caption sidecars: kept ones, an exact duplicate, a truncated file and a tiny one.

Each image is a 6x8 field of seeded random colours enlarged with Pillow's bicubic filter (fixed-point
integer arithmetic) and saved as JPEG (libjpeg-turbo, whose SIMD paths give the C code's bytes) or PNG
(zlib): the same bytes on any machine.
"""
from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


def demo_image(seed: int, size: tuple[int, int], fmt: str = "JPEG") -> bytes:
    """A smooth colour field of `size` (width, height) drawn from `seed`, as `fmt` (JPEG at quality 90, or PNG)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def write_demo_images(folder: Path) -> list[Path]:
    """Write the demo images into `folder` (created if needed), each with a `.txt` caption; returns the image paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"a.jpg": demo_image(1, (256, 192)), "b.png": demo_image(2, (320, 200), "PNG"),
             "c.jpg": demo_image(3, (200, 300)), "d_copy_of_a.jpg": demo_image(1, (256, 192)),
             "e_trunc.jpg": demo_image(4, (640, 480))[:2000], "f_tiny.jpg": demo_image(5, (16, 16))}
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        path.with_suffix(".txt").write_text(f"a photo called {name}")
        paths.append(path)
    log.info("wrote %d demo images to %s", len(paths), folder)
    return paths
