"""The LLaVA-UHD slicing grid of an image size, as released (``image_processing_minicpmv.py``): pure arithmetic.

Torch-free on purpose, so that data-side code (``pipelines.export`` counts the tokens a trainer's loader makes of an
image) can use the same rule as :mod:`model.slicing`, which re-exports it.
"""

from __future__ import annotations

import math


def get_sliced_grid(image_size: tuple[int, int], max_slice_nums: int, scale_resolution: int) -> tuple[int, int] | None:
    """Best ``(cols, rows)`` grid for a ``(width, height)`` image, or None when it is not sliced.

    ``m = min(ceil(W·H / scale²), max_slice_nums)``; no slicing if ``m <= 1``; candidates are all factorisations of
    ``m - 1``, ``m`` and ``m + 1`` slices (excluding 1 and more than ``max_slice_nums``); the first one minimising
    ``|log(W/H) - log(cols/rows)|`` wins.
    """
    width, height = image_size
    log_ratio = math.log(width / height)
    ratio = width * height / (scale_resolution * scale_resolution)
    multiple = min(math.ceil(ratio), max_slice_nums)
    if multiple <= 1:
        return None
    best, min_error = None, float("inf")
    for count in (multiple - 1, multiple, multiple + 1):
        if count == 1 or count > max_slice_nums:
            continue
        for cols in range(1, count + 1):
            if count % cols:
                continue
            error = abs(log_ratio - math.log(cols / (count // cols)))
            if error < min_error:
                best, min_error = (cols, count // cols), error
    return best
