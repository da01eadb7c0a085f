"""Glyph-aware region corruption for the unified OCR / knowledge paradigm (paper §2.2.3).

Every family is a pure function `(image, bbox, strength, rng, glyph_px) -> (image, params)`: `image`
is uint8 pixels (H, W) or (H, W, 3), `bbox` (x0, y0, x1, y1) in pixels, `strength` in [0, 1],
`glyph_px` the region's font size (em) in pixels; it returns a new array that differs from `image`
only inside `pixel_box(bbox)`, and the effective parameters it used. Each family's scale is relative
to the glyph size (and, for pixel noise and glyph masks, to the ink's contrast against the local
background), so one strength means the same legibility on 8 pt and 24 pt text, on lines and on
blocks (a block passes its lines' glyph size, never its box height).

The pixel families damage in patches (`patchwork`): the region is cut into cells of PATCH_EM ems and
each cell takes the family at `strength` times a factor drawn from PATCH_FACTORS (x0.5 .. x2). A
uniform damage turns every glyph illegible at one strength, and that strength differs between readers
(tesseract stops reading blurred text at 4/5 of the blur RapidOCR still reads) and between corpora:
medians jump from 0 to 1 and no range is "ambiguous" for two readers. In patches, the share of
illegible glyphs grows gradually with the strength, the same for any reader: that share is the
medium level's visual cue + context.

`corrupt_region` draws a family and a strength for a noise level from `NoiseConfig`: per level and
family a strength range, fitted so that "light" stays legible, "medium" leaves glyphs ambiguous and
"masked" removes the text for two independent OCR readers (`schemas.noise.LEGIBILITY_BANDS`;
benchmarks/noise_calibration.py and `mmcorpus docs calibrate`, which refits them for a corpus).
"""
from __future__ import annotations

import contextlib
import contextvars
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from schemas.noise import LIGHT, MASKED, MEDIUM

Params = dict[str, float]
Corruption = Callable[[np.ndarray, Sequence[float], float, np.random.Generator, float], tuple[np.ndarray, Params]]

#: pixel-noise grain (one noise value per cell), in ems (~ a stroke width)
GRAIN_EM = 0.08
#: glyph-dropout cell, in ems (a stroke and a half: a glyph loses pieces, not pixels; at 0.08 em the holes
#: were a pixel or two on 9-10 pt type, tesseract read nothing past strength 0.6 and RapidOCR's reading
#: depended on the type size)
DROPOUT_EM = 0.16
#: gaussian noise sigma at strength 1, in units of the ink contrast
SIGMA_CONTRAST = 2.0
#: blur radius at strength 1, in ems
BLUR_EM = 0.3
#: JPEG: the em is downscaled to JPEG_EM_PX[0] px at strength 0 ... JPEG_EM_PX[1] px at strength 1
JPEG_EM_PX = (32.0, 5.0)
MIN_CONTRAST = 16.0
#: the band of pixels around a region's box that gives its local background (`background`): all a family
#: reads outside the box
RING = 3
#: patchwork: cell side in ems, and the factors on the strength that the cells draw from (uniformly)
PATCH_EM = 1.0
PATCH_FACTORS = (0.5, 0.7071, 1.0, 1.4142, 2.0)


def pixel_box(bbox: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel box covering `bbox`, clipped to the image (x1, y1 exclusive)."""
    x0, y0, x1, y1 = bbox
    return (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))),
            min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1))))


def glyph_px(region: Mapping[str, Any], dpi: float | None) -> float:
    """The em of a region in pixels: `font_size` (points) x dpi / 72; without a dpi the OCR font size
    is already in pixels; without a font size, the box height / 1.2 (a line's box)."""
    size = region.get("font_size")
    if size and size > 0:
        return float(size) * (dpi / 72.0 if dpi else 1.0)
    return max(1.0, (region["bbox"][3] - region["bbox"][1]) / 1.2)


def _crop(image: np.ndarray, bbox: Sequence[float]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    box = pixel_box(bbox, image.shape[1], image.shape[0])
    x0, y0, x1, y1 = box
    return box, image[y0:y1, x0:x1]


def _paste(image: np.ndarray, box: tuple[int, int, int, int], patch: np.ndarray) -> np.ndarray:
    out = image.copy()
    x0, y0, x1, y1 = box
    out[y0:y1, x0:x1] = patch
    return out


def _luminance(patch: np.ndarray) -> np.ndarray:
    return patch.astype(np.float32) if patch.ndim == 2 else patch.astype(np.float32).mean(axis=2)


#: within `same_pixels()`, `background` and `ink` of one (image object, box, ring) are computed once
_SAME_PIXELS: contextvars.ContextVar[dict[tuple[Any, ...], Any] | None] = contextvars.ContextVar("same_pixels",
                                                                                                default=None)


@contextlib.contextmanager
def same_pixels() -> Iterator[None]:
    """A scope in which the images given to `background` and `ink` are not modified: their results are
    kept per (image object, box) and reused (patchwork runs a family once per factor on one window)."""
    token = _SAME_PIXELS.set({})
    try:
        yield
    finally:
        _SAME_PIXELS.reset(token)


def _kept(name: str, compute: Callable[..., Any], image: np.ndarray, *args: Any) -> Any:
    memo = _SAME_PIXELS.get()
    if memo is None:
        return compute(image, *args)
    key = (name, id(image), *(tuple(a) if isinstance(a, Sequence) else a for a in args))
    if key not in memo:
        memo[key] = compute(image, *args)
    return memo[key]


def background(image: np.ndarray, bbox: Sequence[float], ring: int = RING) -> np.ndarray:
    """Median colour of the pixels in a `ring`-pixel band just outside the box (inside if at the edge);
    a scalar array for gray (H, W) images, one value per channel for (H, W, C) ones."""
    return _kept("background", _background, image, bbox, ring)


def _background(image: np.ndarray, bbox: Sequence[float], ring: int) -> np.ndarray:
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


def ink(image: np.ndarray, bbox: Sequence[float]) -> tuple[float, float]:
    """(background luminance, contrast): how far the region's ink (its 2% of pixels farthest from the
    background) lies from the local background, at least MIN_CONTRAST grey levels."""
    return _kept("ink", _ink, image, bbox)


def _ink(image: np.ndarray, bbox: Sequence[float]) -> tuple[float, float]:
    _, patch = _crop(image, bbox)
    bg = float(np.mean(background(image, bbox)))
    if patch.size == 0:
        return bg, MIN_CONTRAST
    return bg, max(MIN_CONTRAST, float(np.percentile(np.abs(_luminance(patch) - bg), 98)))


def _cells(rng: np.random.Generator, shape: tuple[int, int], cell: float, draw: Callable[..., np.ndarray]) -> np.ndarray:
    """A random field of `shape` constant over cells of `cell` x `cell` pixels (`cell` >= 1, fractional ok)."""
    rows = (np.arange(shape[0]) / cell).astype(np.int64)
    cols = (np.arange(shape[1]) / cell).astype(np.int64)
    field = draw((int(rows[-1]) + 1 if shape[0] else 0, int(cols[-1]) + 1 if shape[1] else 0))
    # each cell value repeated over its pixels (as field[np.ix_(rows, cols)], by block copies)
    return np.repeat(np.repeat(field, np.bincount(rows, minlength=field.shape[0]), axis=0),
                     np.bincount(cols, minlength=field.shape[1]), axis=1)


def gaussian_noise(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator,
                   glyph: float) -> tuple[np.ndarray, Params]:
    """Additive gaussian noise in grains of GRAIN_EM ems, sigma = SIGMA_CONTRAST x strength x contrast."""
    box, patch = _crop(image, bbox)
    _, contrast = ink(image, bbox)
    sigma, grain = SIGMA_CONTRAST * strength * contrast, max(1.0, GRAIN_EM * glyph)
    noise = _cells(rng, patch.shape[:2], grain, lambda s: rng.normal(0.0, sigma, size=s))
    noisy = patch.astype(np.float32) + (noise if patch.ndim == 2 else noise[:, :, None])
    return _paste(image, box, np.clip(noisy, 0, 255).astype(np.uint8)), {"sigma": round(sigma, 2), "cell": round(grain, 2)}


def blur(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator,
         glyph: float) -> tuple[np.ndarray, Params]:
    """Gaussian blur of the region, radius = BLUR_EM x strength ems (at least 0.3 px)."""
    box, patch = _crop(image, bbox)
    radius = float(max(0.3, BLUR_EM * strength * glyph))  # PIL refuses numpy scalars
    if patch.size == 0:
        return image.copy(), {"radius": round(radius, 2)}
    blurred = np.asarray(Image.fromarray(patch).filter(ImageFilter.GaussianBlur(radius)))
    return _paste(image, box, blurred), {"radius": round(radius, 2)}


def glyph_dropout(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator,
                  glyph: float) -> tuple[np.ndarray, Params]:
    """Ink pixels (farther than a quarter of the contrast from the background: antialiased edges too)
    erased to the background in random cells of DROPOUT_EM ems, each with probability `strength`."""
    box, patch = _crop(image, bbox)
    cell = max(1.0, DROPOUT_EM * glyph)
    if patch.size == 0:
        return image.copy(), {"cell": round(cell, 2)}
    bg_lum, contrast = ink(image, bbox)
    glyph_mask = np.abs(_luminance(patch) - bg_lum) > contrast / 4
    drop = _cells(rng, patch.shape[:2], cell, lambda s: rng.random(s) < strength)
    out = patch.copy()
    out[glyph_mask & drop] = background(image, bbox)
    return _paste(image, box, out), {"cell": round(cell, 2)}


def jpeg_artifacts(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator,
                   glyph: float) -> tuple[np.ndarray, Params]:
    """The region downscaled so its em spans JPEG_EM_PX[0] -> [1] px (geometric in strength; never
    upscaled), JPEG-encoded at quality 75 x (1 - strength) (at least 5), and scaled back."""
    box, patch = _crop(image, bbox)
    lo, hi = JPEG_EM_PX
    scale = min(1.0, lo * (hi / lo) ** strength / glyph)
    quality = max(5, round(75 * (1 - strength)))
    params = {"scale": round(scale, 3), "quality": quality}
    if patch.size == 0:
        return image.copy(), params
    img = Image.fromarray(patch)
    small = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=quality)
    degraded = Image.open(io.BytesIO(buf.getvalue())).convert(img.mode).resize(img.size, Image.Resampling.BILINEAR)
    return _paste(image, box, np.asarray(degraded)), params


def mask(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator,
         glyph: float) -> tuple[np.ndarray, Params]:
    """The region filled with its local background colour (`background`); strength is ignored."""
    box, patch = _crop(image, bbox)
    return _paste(image, box, np.broadcast_to(background(image, bbox), patch.shape)), {}


def patchwork(family: Corruption) -> Corruption:
    """`family` applied in patches: each cell of PATCH_EM ems of the region takes the family at `strength`
    x a factor of PATCH_FACTORS (drawn per cell; strength capped at 1); params are those at `strength`
    itself, plus the cell side `patch_px`."""

    def patched(image: np.ndarray, bbox: Sequence[float], strength: float, rng: np.random.Generator,
                glyph: float) -> tuple[np.ndarray, Params]:
        box, patch = _crop(image, bbox)
        cell = max(2.0, PATCH_EM * glyph)
        pick = _cells(rng, patch.shape[:2], cell, lambda s: rng.integers(len(PATCH_FACTORS), size=s))
        seeds = rng.integers(2**63, size=len(PATCH_FACTORS))
        nominal = PATCH_FACTORS.index(1.0)
        out = patch.copy()
        params: Params = {}
        drawn = np.bincount(pick.ravel(), minlength=len(PATCH_FACTORS))
        with same_pixels():  # the family reads `image` once per factor: its ink is measured once
            for k in sorted(set(np.flatnonzero(drawn).tolist()) | {nominal}):
                done, p = family(image, bbox, float(min(1.0, strength * PATCH_FACTORS[k])),
                                 np.random.default_rng(seeds[k]), glyph)
                if k == nominal:
                    params = {**p, "patch_px": round(cell, 2)}
                _, done_patch = _crop(done, bbox)
                cells = pick == k
                out[cells] = done_patch[cells]
        return _paste(image, box, out), params

    patched.__name__ = patched.__qualname__ = f"patchwork_{family.__name__}"
    patched.__doc__ = f"{family.__name__} in patches (`patchwork`): {family.__doc__}"
    return patched


FAMILIES: dict[str, Corruption] = {
    "gaussian": patchwork(gaussian_noise),
    "blur": patchwork(blur),
    "dropout": patchwork(glyph_dropout),
    "jpeg": patchwork(jpeg_artifacts),
    "mask": mask,
}


def _default_strength() -> dict[str, dict[str, tuple[float, float]]]:
    """Strength ranges of the patchwork families at 144 dpi, fitted by `mmcorpus docs calibrate --regions
    40` with both readers (RapidOCR, tesseract) on the demo corpus (11-12.5 pt) and the fixture papers
    (9-10 pt) together; `benchmarks/noise_calibration.py --demo --papers` prints both readers' medians
    per set (README "Noise levels, calibrated"); refit for your documents with `mmcorpus docs calibrate`."""
    return {
        LIGHT: {"gaussian": (0.017, 0.05), "blur": (0.04, 0.12), "dropout": (0.03, 0.09), "jpeg": (0.1, 0.3)},
        MEDIUM: {"gaussian": (0.16, 0.214), "blur": (0.344, 0.392), "dropout": (0.423, 0.535),
                   "jpeg": (0.644, 0.789)},
        MASKED: {"mask": (1.0, 1.0)},
    }


@dataclass
class NoiseConfig:
    """The level mix, the families per level, and `strength[level][family] = (lo, hi)`."""

    level_weights: dict[str, float] = field(default_factory=lambda: {LIGHT: 0.4, MEDIUM: 0.35, MASKED: 0.25})
    families: dict[str, list[str]] = field(default_factory=lambda: {
        LIGHT: ["gaussian", "blur", "dropout", "jpeg"],
        MEDIUM: ["gaussian", "blur", "dropout", "jpeg"],
        MASKED: ["mask"],
    })
    strength: dict[str, dict[str, tuple[float, float]]] = field(default_factory=_default_strength)

    def draw_level(self, rng: np.random.Generator) -> str:
        """A noise level drawn from `level_weights`."""
        levels = sorted(self.level_weights)
        p = np.array([self.level_weights[k] for k in levels], dtype=np.float64)
        return levels[int(rng.choice(len(levels), p=p / p.sum()))]

    def range_of(self, level: str, family: str) -> tuple[float, float]:
        """The (lo, hi) strength range of `family` at `level`, with advice when the config lacks it."""
        ranges = self.strength.get(level)
        if not isinstance(ranges, dict) or family not in ranges:
            raise ValueError(f"noise.strength.{level}.{family} is not set: strength ranges are per level and "
                             f"family, e.g. --set samples.noise.strength.{level}.{family}=[0.4,0.6]")
        lo, hi = ranges[family]
        return float(lo), float(hi)


def corrupt_region(image: np.ndarray, bbox: Sequence[float], level: str, rng: np.random.Generator,
                   config: NoiseConfig, glyph: float) -> tuple[np.ndarray, str, float, Params]:
    """Corrupt one region at `level` for glyphs of `glyph` px: (new image, family, strength, params)."""
    families = config.families[level]
    family = families[int(rng.integers(len(families)))]
    lo, hi = config.range_of(level, family)
    strength = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    # the family runs on a window of the box and its background ring, not on the page: the same pixels
    # (a family reads nothing farther), without copying the whole page per patch factor
    h, w = image.shape[:2]
    x0, y0, x1, y1 = pixel_box(bbox, w, h)
    wx0, wy0, wx1, wy1 = max(0, x0 - RING), max(0, y0 - RING), min(w, x1 + RING), min(h, y1 + RING)
    local = (bbox[0] - wx0, bbox[1] - wy0, bbox[2] - wx0, bbox[3] - wy0)
    window, params = FAMILIES[family](image[wy0:wy1, wx0:wx1], local, strength, rng, glyph)
    out = image.copy()
    out[wy0:wy1, wx0:wx1] = window
    return out, family, round(strength, 4), params
