"""LLaVA-UHD image slicing as released (``image_processing_minicpmv.py``).

An image of area up to about ``max_slice_nums`` x 448² is cut into a ``cols x rows`` grid of ~448² slices, chosen
to best fit its aspect ratio, plus a thumbnail (the whole image at ~448² area). Every side is a multiple of the
patch size, so each slice is an exact patch grid. Pure functions of sizes, plus the PIL resizes and crops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from model.config import SliceConfig
from model.slice_grid import get_sliced_grid


@dataclass(frozen=True)
class SlicedImage:
    """The thumbnail (``source``), the slices row-major, and the grid ``(cols, rows)`` (None: not sliced)."""

    source: Image.Image
    slices: list[Image.Image]
    grid: tuple[int, int] | None

    @property
    def images(self) -> list[Image.Image]:
        """Thumbnail first, then the slices: the order of the placeholder blocks and of the model's slices."""
        return [self.source, *self.slices]


def ensure_divide(length: float, divisor: int) -> int:
    """Round to the nearest multiple of ``divisor``, at least ``divisor``."""
    return max(round(length / divisor) * divisor, divisor)


def find_best_resize(
    size: tuple[float, float], scale_resolution: int, patch_size: int, allow_upscale: bool = False
) -> tuple[int, int]:
    """``(width, height)`` with sides multiple of ``patch_size``, at about ``scale_resolution``² area if the image
    is larger than that (or always, with ``allow_upscale``), keeping the aspect ratio."""
    width, height = size
    if width * height > scale_resolution * scale_resolution or allow_upscale:
        r = width / height
        height = int(scale_resolution / math.sqrt(r))
        width = int(height * r)
    return ensure_divide(width, patch_size), ensure_divide(height, patch_size)


def get_refine_size(
    size: tuple[int, int], grid: tuple[int, int], scale_resolution: int, patch_size: int
) -> tuple[int, int]:
    """Size of the whole image before cropping: ``grid`` cells of the best (upscalable) cell size."""
    width, height = size
    cols, rows = grid
    cell = find_best_resize(
        (ensure_divide(width, cols) / cols, ensure_divide(height, rows) / rows),
        scale_resolution,
        patch_size,
        allow_upscale=True,
    )
    return cell[0] * cols, cell[1] * rows


def slice_image(image: Image.Image, config: SliceConfig, max_slice_nums: int | None = None) -> SlicedImage:
    """Thumbnail and slices of one RGB image (bicubic resizes; crops row-major)."""
    max_slices = config.max_slice_nums if max_slice_nums is None else max_slice_nums
    grid = get_sliced_grid(image.size, max_slices, config.scale_resolution)
    bicubic = Image.Resampling.BICUBIC
    if grid is None:
        size = find_best_resize(image.size, config.scale_resolution, config.patch_size, allow_upscale=True)
        return SlicedImage(image.resize(size, resample=bicubic), [], None)
    source = image.resize(find_best_resize(image.size, config.scale_resolution, config.patch_size), resample=bicubic)
    refined = image.resize(get_refine_size(image.size, grid, config.scale_resolution, config.patch_size), bicubic)
    cell_w, cell_h = refined.size[0] // grid[0], refined.size[1] // grid[1]
    slices = [
        refined.crop((x, y, x + cell_w, y + cell_h))
        for y in range(0, refined.size[1], cell_h)
        for x in range(0, refined.size[0], cell_w)
    ]
    return SlicedImage(source, slices, grid)


def to_patches(image: Image.Image, patch_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Normalise one slice and lay its patches side by side.

    Pixels are scaled by 1/255 then ``(x - 0.5) / 0.5``; the ``(3, H, W)`` slice becomes ``(3, p, (H/p)(W/p) p)``
    with patch ``k`` (row-major) in columns ``k p .. (k+1) p``, as the released ``reshape_by_patch``.

    Returns:
        the patch strip and ``(H / p, W / p)``, the slice's patch grid (rows, cols).
    """
    array = (np.asarray(image.convert("RGB"), dtype=np.float64) * (1 / 255)).astype(np.float32)
    pixels = torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)
    channels, height, width = pixels.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"slice {width}x{height} is not a multiple of the patch size {patch_size}")
    patches = torch.nn.functional.unfold(pixels[None], patch_size, stride=patch_size)[0]  # (3 p p, L)
    strip = patches.reshape(channels, patch_size, patch_size, -1).permute(0, 1, 3, 2).reshape(channels, patch_size, -1)
    return strip, (height // patch_size, width // patch_size)


def grid_placeholder(grid: tuple[int, int] | None, block: str) -> str:
    """Rows of ``cols`` slice blocks, rows joined by newlines (empty when not sliced)."""
    if grid is None:
        return ""
    cols, rows = grid
    return "\n".join(block * cols for _ in range(rows))
