"""Refit the noise strength ranges for a corpus: sweep each family's strength, read the regions back
with every reader, and keep the ranges where all readers agree with the level's band.

Contract:
- `sweep(pages, noise, readers, ...)`: `n_regions` text regions of `pages` (seeded choice; lines only by
  default: the families scale with the glyph size, so a block's legibility is its lines', and a block
  costs one read per line; the verification table reports blocks apart), each corrupted by every
  family of the light and medium levels at every strength of `grid` with the build's family functions
  and glyph sizes, JPEG round-tripped like a sample, read back by each reader; one row per (region,
  family, strength, reader) with its CER and the clean crop's CER.
- `fit(rows, noise)`: per family, LIGHT = (hi / 3, hi) with hi = `light_limit`: the largest strength up
  to which every reader's median CER stays <= LIGHT_MAX and >= LIGHT_READABLE of the regions it reads
  clean still read with CER <= 0.2; MEDIUM = `medium_range`: the strengths around the one where the
  least central reader's median (monotone, interpolated) lies deepest inside the medium band, while
  that margin stays >= MEDIUM_CORE of its best and >= MIN_MARGIN (a warning and a 0.01-wide range at the best
  compromise when the readers never agree).
- `refine_grid(rows, family, step)`: strengths `step` apart around the fitted edges that the sweep
  lacks; `sweep_and_fit` sweeps the grid, then those (steep families need them), then fits.
- `noise_yaml(strength, dpi)`: a docs build config (YAML) that sets them and the DPI they hold for.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml
from PIL import Image

from operators.docs.corrupt import FAMILIES, NoiseConfig, background, glyph_px
from operators.docs.legibility import LineReader, cer, line_boxes, read_region
from operators.docs.page_image import page_pixels
from pipelines.calibration.measure import READABLE, readers_of
from schemas.noise import LEGIBILITY_BANDS, LIGHT, MEDIUM

log = logging.getLogger(__name__)

GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0)
LIGHT_MAX = LEGIBILITY_BANDS[LIGHT][1] / 2  # half the band: a fit on a few dozen regions is noisy
LIGHT_READABLE = 0.92  # share of clean-readable regions still read with CER <= 0.2
MEDIUM_BAND = LEGIBILITY_BANDS[MEDIUM]
MIN_MARGIN = 0.05  # a medium range keeps every reader's median at least this far inside the band
MEDIUM_CORE = 2 / 3  # ... and at least this share of the best margin (measured: 1/2 let a 13-line median slip out)
REFINE_STEPS = (0.02,)  # after the grid: strengths this far apart around each fitted edge (steep families)
MARGIN = 6  # pixels around a region kept when corrupting it alone (the background ring is 3)


def _jpeg_round_trip(crop: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def pick_regions(pages: list[dict[str, Any]], n_regions: int, weights: dict[str, float], min_chars: int,
                 max_chars: int, seed: int) -> list[tuple[int, dict[str, Any]]]:
    """(page index, region) pairs: `n_regions` regions split between granularities by `weights`."""
    rng = np.random.default_rng([seed, 0xCA1])
    total = sum(weights.values())
    chosen: list[tuple[int, dict[str, Any]]] = []
    for gran, w in sorted(weights.items()):
        pool = [(i, r) for i, p in enumerate(pages) for r in p.get("regions") or []
                if r["granularity"] == gran and min_chars <= len(r["text"].strip()) <= max_chars]
        take = min(len(pool), round(n_regions * w / total))
        chosen += [pool[j] for j in sorted(rng.choice(len(pool), take, replace=False))] if take else []
    return chosen


def sweep(pages: list[dict[str, Any]], noise: NoiseConfig, readers: Sequence[LineReader], n_regions: int = 24,
          grid: Sequence[float] = GRID, weights: dict[str, float] | None = None, min_chars: int = 3,
          max_chars: int = 800, jpeg_quality: int = 90, seed: int = 0,
          families: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """CER of each chosen region under every (family, strength) of the light and medium levels (or
    `families`), read by each of `readers`; one row per (region, family, strength, reader)."""
    families = families or sorted({f for lv in (LIGHT, MEDIUM) for f in noise.families.get(lv, [])})
    regions = pick_regions(pages, n_regions, weights or {"line": 1.0}, min_chars, max_chars, seed)
    rows: list[dict[str, Any]] = []
    for n, (pi, r) in enumerate(regions):
        page = page_pixels(pages[pi])
        x0, y0 = max(0, int(r["bbox"][0]) - MARGIN), max(0, int(r["bbox"][1]) - MARGIN)
        sub = page[y0:int(np.ceil(r["bbox"][3])) + MARGIN, x0:int(np.ceil(r["bbox"][2])) + MARGIN]
        box = [r["bbox"][0] - x0, r["bbox"][1] - y0, r["bbox"][2] - x0, r["bbox"][3] - y0]
        glyph = glyph_px(r, pages[pi].get("dpi"))
        boxes = [[b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0] for b in line_boxes(r["bbox"], pages[pi]["regions"])]
        fill = background(sub, box)
        clean_image = _jpeg_round_trip(sub, jpeg_quality)
        clean = {rd.name: cer(read_region(rd, clean_image, boxes, fill), r["text"]) for rd in readers}
        for fam in families:
            for s in grid:
                out, _ = FAMILIES[fam](sub, box, s, np.random.default_rng([seed, n, int(round(s * 1000))]), glyph)
                image = _jpeg_round_trip(out, jpeg_quality)
                for rd in readers:
                    rows.append({"family": fam, "strength": s, "granularity": r["granularity"], "glyph_px": glyph,
                                 "region": n, "reader": rd.name,
                                 "cer": cer(read_region(rd, image, boxes, fill), r["text"]), "clean_cer": clean[rd.name]})
        log.info("sweep: %d/%d regions", n + 1, len(regions))
    return rows


def _curve(rows: list[dict[str, Any]], family: str, reader: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strengths, median CER (monotone non-decreasing) and readable share of `family` read by `reader`
    (the share among the regions that read clean: a line a reader cannot read even clean says nothing
    about the noise)."""
    at_family = [r for r in rows if r["family"] == family and (r.get("reader") or "rapidocr") == reader]
    strengths = np.array(sorted({r["strength"] for r in at_family}))
    med, readable = [], []
    for s in strengths:
        at = [r for r in at_family if r["strength"] == s]
        med.append(np.median([r["cer"] for r in at]))
        legible = [r["cer"] <= READABLE for r in at if r["clean_cer"] <= READABLE]
        readable.append(float(np.mean(legible)) if legible else 0.0)
    return strengths, np.maximum.accumulate(np.array(med)), np.array(readable)


def light_limit(rows: list[dict[str, Any]], family: str) -> float:
    """The largest swept strength up to which every reader's median CER stays within LIGHT_MAX and at
    least LIGHT_READABLE of its clean-readable regions read with CER <= 0.2."""
    hi = np.inf
    for reader in readers_of(rows):
        strengths, med, readable = _curve(rows, family, reader)
        ok = (med <= LIGHT_MAX) & (readable >= LIGHT_READABLE)
        n_ok = int(np.argmin(ok)) if not ok.all() else len(ok)
        hi = min(hi, float(strengths[max(n_ok - 1, 0)]))
    return hi


def medium_margin(rows: list[dict[str, Any]], family: str, at: np.ndarray) -> np.ndarray:
    """At each strength of `at`: how far inside the medium band the least central reader's median CER
    lies (its monotone curve interpolated linearly); negative outside the band."""
    lo, hi = MEDIUM_BAND
    margin = np.full(len(at), np.inf)
    for reader in readers_of(rows):
        strengths, med, _ = _curve(rows, family, reader)
        m = np.interp(at, strengths, med)
        margin = np.minimum(margin, np.minimum(m - lo, hi - m))
    return margin


def medium_range(rows: list[dict[str, Any]], family: str) -> tuple[float, float, float]:
    """(lo, hi, margin): the strengths around the most central one (every reader's median as deep inside
    MEDIUM_BAND as they can all be) where the margin stays at least MEDIUM_CORE of its best and at least
    MIN_MARGIN; a range 0.01 wide when the readers cannot agree (margin < MIN_MARGIN)."""
    swept = sorted({r["strength"] for r in rows if r["family"] == family})
    at = np.round(np.arange(swept[0], swept[-1] + 1e-9, 0.001), 3)
    margin = medium_margin(rows, family, at)
    best = int(np.argmax(margin))
    if margin[best] < MIN_MARGIN:
        return float(at[best]), float(min(at[best] + 0.01, 1.0)), float(margin[best])
    keep = margin >= max(MIN_MARGIN, margin[best] * MEDIUM_CORE)
    lo = hi = best
    while lo > 0 and keep[lo - 1]:
        lo -= 1
    while hi < len(at) - 1 and keep[hi + 1]:
        hi += 1
    return float(at[lo]), float(at[hi]), float(margin[best])


def refine_grid(rows: list[dict[str, Any]], family: str, step: float) -> list[float]:
    """Strengths `step` apart around the family's light limit and medium range that the sweep lacks:
    where a steep curve needs a finer grid than the first sweep's."""
    swept = sorted({r["strength"] for r in rows if r["family"] == family})
    light_hi = light_limit(rows, family)
    lo, hi, _ = medium_range(rows, family)
    wanted = set()
    for centre, width in ((light_hi, 2 * step), (lo, 2 * step), (hi, 2 * step)):
        for k in np.arange(-width, width + 1e-9, step):
            s = round(float(np.clip(centre + k, 0.0, 1.0)), 3)
            if all(abs(s - x) > step / 4 for x in swept):
                wanted.add(s)
    return sorted(wanted)


def fit(rows: list[dict[str, Any]], noise: NoiseConfig) -> dict[str, dict[str, tuple[float, float]]]:
    """Strength ranges per level and family from `sweep` rows of one or more readers (masked ranges kept
    as they are): LIGHT = (hi / 3, hi) with hi = `light_limit`; MEDIUM = `medium_range`."""
    out: dict[str, dict[str, tuple[float, float]]] = {lv: dict(v) for lv, v in noise.strength.items()}
    for level in (LIGHT, MEDIUM):
        for fam in noise.families.get(level, []):
            if not any(r["family"] == fam for r in rows):
                continue
            if level == LIGHT:
                hi = light_limit(rows, fam)
                out[level][fam] = (round(hi / 3, 3), round(hi, 3))
            else:
                lo, hi, margin = medium_range(rows, fam)
                if margin < MIN_MARGIN:
                    log.warning("medium %s: the readers never agree inside [%.2f, %.2f] (best margin %.3f at "
                                "strength %.3f)", fam, *MEDIUM_BAND, margin, lo)
                out[level][fam] = (round(lo, 3), round(hi, 3))
    return out


def sweep_and_fit(pages: list[dict[str, Any]], noise: NoiseConfig, readers: Sequence[LineReader], n_regions: int,
                  grid: Sequence[float] = GRID, refine: Sequence[float] = REFINE_STEPS, min_chars: int = 3,
                  max_chars: int = 800, jpeg_quality: int = 90,
                  seed: int = 0) -> tuple[dict[str, dict[str, tuple[float, float]]], list[dict[str, Any]]]:
    """`sweep` on `grid`, then once per step of `refine` a sweep of each family at the strengths
    `refine_grid` asks for (the same regions: the choice is seeded), then `fit`: (ranges, sweep rows)."""
    rows = sweep(pages, noise, readers, n_regions, grid, None, min_chars, max_chars, jpeg_quality, seed)
    families = sorted({r["family"] for r in rows})
    for step in refine:
        for fam in families:
            extra = refine_grid(rows, fam, step)
            if extra:
                log.info("refining %s at %s", fam, extra)
                rows += sweep(pages, noise, readers, n_regions, extra, None, min_chars, max_chars, jpeg_quality, seed,
                              families=[fam])
    return fit(rows, noise), rows


def noise_yaml(strength: dict[str, dict[str, tuple[float, float]]], dpi: float) -> str:
    """A docs build config (for `--config`): the fitted `samples.noise.strength` and the `pages.dpi` they
    were fitted at (the ranges hold for that render size)."""
    ranges = {lv: {f: [float(lo), float(hi)] for f, (lo, hi) in fams.items()} for lv, fams in strength.items()}
    return yaml.safe_dump({"pages": {"dpi": float(dpi)}, "samples": {"noise": {"strength": ranges}}}, sort_keys=True)
