"""Region corruption for the unified OCR / knowledge paradigm (PAPER.md section 8).

Every family is a pure function `(image, bbox, strength, rng) -> image`: `image` is an RGB uint8 array
(H, W, 3), `bbox` (x0, y0, x1, y1) in pixels, `strength` in [0, 1]; it returns a new array that differs
from `image` only inside `pixel_box(bbox)`. `corrupt_region` draws a family and a strength for a noise
level from `NoiseConfig` and applies it. Levels: "light" (text stays legible -> OCR), "medium" (glyphs
ambiguous -> visual cues + context), "masked" (region filled with its local background -> infer from
context and knowledge).
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

Corruption = Callable[[np.ndarray, Sequence[float], float, np.random.Generator], np.ndarray]


def pixel_box(bbox: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel box covering `bbox`, clipped to the image (x1, y1 exclusive)."""
    x0, y0, x1, y1 = bbox
    return (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))),
            min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1))))


def _crop(image: np.ndarray, bbox: Sequence[float]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    box = pixel_box(bbox, image.shape[1], image.shape[0])
    x0, y0, x1, y1 = box
    return box, image[y0:y1, x0:x1]


def _paste(image: np.ndarray, box: tuple[int, int, int, int], patch: np.ndarray) -> np.ndarray:
    out = image.copy()
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = patch
    return out


def _char_height(box: tuple[int, int, int, int]) -> float:
    """A rough glyph height: the box height, capped (a block box spans several lines)."""
    return float(min(box[3] - box[1], 40))


def background(image: np.ndarray, bbox: Sequence[float], ring: int = 3) -> np.ndarray:
    """Median colour of the pixels in a `ring`-pixel band just outside the box (inside if at the edge);
    a scalar array for gray (H, W) images, one value per channel for (H, W, C) ones."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = pixel_box(bbox, w, h)
    ox0, oy0, ox1, oy1 = max(0, x0 - ring), max(0, y0 - ring), min(w, x1 + ring), min(h, y1 + ring)
    mask = np.ones((oy1 - oy0, ox1 - ox0), dtype=bool)
    mask[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0] = False
    pixels = image[oy0:oy1, ox0:ox1][mask]
    if len(pixels) == 0:
        pixels = image[y0:y1, x0:x1].reshape(-1, *image.shape[2:])
    if len(pixels) == 0:
        return np.full(image.shape[2:], 255, dtype=np.uint8)
    return np.median(pixels, axis=0).astype(np.uint8)


def gaussian_noise(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Additive gaussian pixel noise, sigma = 140 * strength grey levels."""
    box, patch = _crop(image, bbox)
    noisy = patch.astype(np.float32) + rng.normal(0.0, 140.0 * strength, size=patch.shape)
    return _paste(image, box, np.clip(noisy, 0, 255).astype(np.uint8))


def blur(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur of the region, radius = 0.25 * strength * glyph height (at least 0.5 px)."""
    box, patch = _crop(image, bbox)
    if patch.size == 0:
        return image.copy()
    radius = max(0.5, 0.25 * strength * _char_height(box))
    return _paste(image, box, np.asarray(Image.fromarray(patch).filter(ImageFilter.GaussianBlur(radius))))


def glyph_dropout(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Glyph pixels (darker than midway to the background) erased to the background in random cells
    of ~1/10 glyph height, each with probability `strength`."""
    box, patch = _crop(image, bbox)
    if patch.size == 0:
        return image.copy()
    bg = background(image, bbox)
    lum = patch.astype(np.float32) if patch.ndim == 2 else patch.astype(np.float32).mean(axis=2)
    glyph = lum < (float(bg.mean()) + float(lum.min())) / 2
    cell = max(1, round(_char_height(box) / 10))
    ch, cw = -(-patch.shape[0] // cell), -(-patch.shape[1] // cell)
    drop = np.kron(rng.random((ch, cw)) < strength, np.ones((cell, cell), dtype=bool))[: patch.shape[0], : patch.shape[1]]
    out = patch.copy()
    out[glyph & drop] = bg
    return _paste(image, box, out)


def jpeg_artifacts(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Low-quality JPEG re-encoding of the region after downscaling by 1 + 2 * strength;
    quality = 40 * (1 - strength)^2 (at least 2)."""
    box, patch = _crop(image, bbox)
    if patch.size == 0:
        return image.copy()
    img = Image.fromarray(patch)
    factor = 1.0 + 2.0 * strength
    small = img.resize((max(1, round(img.width / factor)), max(1, round(img.height / factor))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=max(2, round(40 * (1 - strength) ** 2)))
    degraded = Image.open(io.BytesIO(buf.getvalue())).convert(img.mode).resize(img.size, Image.Resampling.BILINEAR)
    return _paste(image, box, np.asarray(degraded))


def mask(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator) -> np.ndarray:
    """The region filled with its local background colour (`background`); strength is ignored."""
    box, patch = _crop(image, bbox)
    return _paste(image, box, np.broadcast_to(background(image, bbox), patch.shape))


FAMILIES: dict[str, Corruption] = {
    "gaussian": gaussian_noise,
    "blur": blur,
    "dropout": glyph_dropout,
    "jpeg": jpeg_artifacts,
    "mask": mask,
}


@dataclass
class NoiseConfig:
    """The level mix, the families per level, and the strength range of each level."""

    level_weights: dict[str, float] = field(default_factory=lambda: {"light": 0.4, "medium": 0.35, "masked": 0.25})
    families: dict[str, list[str]] = field(default_factory=lambda: {
        "light": ["gaussian", "blur", "dropout", "jpeg"],
        "medium": ["gaussian", "blur", "dropout", "jpeg"],
        "masked": ["mask"],
    })
    strength: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "light": (0.1, 0.3), "medium": (0.4, 0.7), "masked": (1.0, 1.0),
    })

    def draw_level(self, rng: np.random.Generator) -> str:
        """A noise level drawn from `level_weights`."""
        levels = sorted(self.level_weights)
        p = np.array([self.level_weights[k] for k in levels], dtype=np.float64)
        return levels[int(rng.choice(len(levels), p=p / p.sum()))]


def corrupt_region(image: np.ndarray, bbox: Sequence[float], level: str, rng: np.random.Generator,
                   config: NoiseConfig) -> tuple[np.ndarray, str, float]:
    """Corrupt one region at `level`: returns (new image, family, strength)."""
    families = config.families[level]
    family = families[int(rng.integers(len(families)))]
    lo, hi = config.strength[level]
    strength = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    return FAMILIES[family](image, bbox, strength, rng), family, round(strength, 4)
