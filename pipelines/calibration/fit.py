"""Refit the noise strength ranges for a corpus: sweep each family's strength, read the regions back
with OCR, and keep the ranges whose CER meets the level's definition.

Contract:
- `sweep(pages, noise, reader, ...)`: `n_regions` text regions of `pages` (seeded choice; lines only by
  default: the families scale with the glyph size, so a block's legibility is its lines', and a block
  costs one read per line; the verification table reports blocks apart), each corrupted by every family of the light and medium levels at
  every strength of `grid` with the build's family functions and glyph sizes, JPEG round-tripped like a
  sample, read back; one row per (region, family, strength) with its CER and the clean crop's CER.
- `fit(rows)`: per family, LIGHT = (hi / 3, hi) with hi the largest strength up to which the median CER
  stays within LIGHT_SLACK of the clean median and at least LIGHT_READABLE of the regions that read clean
  still read with CER <= 0.2; MEDIUM = the strengths where the median CER (made monotone) crosses MEDIUM_BAND.
- `noise_yaml(strength, dpi)`: a docs build config (YAML) that sets them and the DPI they hold for.
"""
from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import yaml
from PIL import Image

from operators.docs.corrupt import FAMILIES, NoiseConfig, background, glyph_px
from operators.docs.legibility import LineReader, cer, line_boxes, read_region
from operators.docs.page_image import page_pixels
from pipelines.calibration.measure import READABLE

log = logging.getLogger(__name__)

GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85, 1.0)
LIGHT_SLACK = 0.02  # margin inside the 0.05 target: a fit on a few dozen regions is noisy
LIGHT_READABLE = 0.92  # margin over the 90% target
MEDIUM_BAND = (0.4, 0.6)  # inside the [0.3, 0.7] target
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


def sweep(pages: list[dict[str, Any]], noise: NoiseConfig, reader: LineReader, n_regions: int = 24,
          grid: tuple[float, ...] = GRID, weights: dict[str, float] | None = None, min_chars: int = 3,
          max_chars: int = 800, jpeg_quality: int = 90, seed: int = 0) -> list[dict[str, Any]]:
    """CER of each chosen region under every (family, strength) of the light and medium levels."""
    families = sorted({f for lv in ("light", "medium") for f in noise.families.get(lv, [])})
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
        clean = cer(read_region(reader, _jpeg_round_trip(sub, jpeg_quality), boxes, fill), r["text"])
        for fam in families:
            for s in grid:
                out, _ = FAMILIES[fam](sub, box, s, np.random.default_rng([seed, n, int(s * 1000)]), glyph)
                read = read_region(reader, _jpeg_round_trip(out, jpeg_quality), boxes, fill)
                rows.append({"family": fam, "strength": s, "granularity": r["granularity"], "glyph_px": glyph,
                             "cer": cer(read, r["text"]), "clean_cer": clean})
        log.info("sweep: %d/%d regions", n + 1, len(regions))
    return rows


def _curve(rows: list[dict[str, Any]], family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strengths, median CER (monotone non-decreasing) and readable share of `family` (among the
    regions that read clean: a line OCR cannot read even clean says nothing about the noise)."""
    strengths = np.array(sorted({r["strength"] for r in rows if r["family"] == family}))
    med, readable = [], []
    for s in strengths:
        at = [r for r in rows if r["family"] == family and r["strength"] == s]
        med.append(np.median([r["cer"] for r in at]))
        legible = [r["cer"] <= READABLE for r in at if r["clean_cer"] <= READABLE]
        readable.append(float(np.mean(legible)) if legible else 0.0)
    return strengths, np.maximum.accumulate(np.array(med)), np.array(readable)


def _crossing(strengths: np.ndarray, med: np.ndarray, target: float) -> float:
    """The strength where the monotone curve `med` first reaches `target` (linear between grid points)."""
    idx = int(np.argmax(med >= target)) if (med >= target).any() else len(med) - 1
    if idx == 0 or med[idx] < target:
        return float(strengths[idx])
    s0, s1, m0, m1 = strengths[idx - 1], strengths[idx], med[idx - 1], med[idx]
    return float(s0 + (s1 - s0) * (target - m0) / max(m1 - m0, 1e-9))


def fit(rows: list[dict[str, Any]], noise: NoiseConfig) -> dict[str, dict[str, tuple[float, float]]]:
    """Strength ranges per level and family from `sweep` rows (masked ranges kept as they are)."""
    clean = float(np.median([r["clean_cer"] for r in rows])) if rows else 0.0
    out: dict[str, dict[str, tuple[float, float]]] = {lv: dict(v) for lv, v in noise.strength.items()}
    for level in ("light", "medium"):
        for fam in noise.families.get(level, []):
            strengths, med, readable = _curve(rows, fam)
            if not len(strengths):
                continue
            if level == "light":
                ok = (med <= clean + LIGHT_SLACK) & (readable >= LIGHT_READABLE)
                n_ok = int(np.argmin(ok)) if not ok.all() else len(ok)
                hi = float(strengths[max(n_ok - 1, 0)])
                out[level][fam] = (round(hi / 3, 3), round(hi, 3))
            else:
                lo, hi = (_crossing(strengths, med, t) for t in MEDIUM_BAND)
                if med[-1] < MEDIUM_BAND[0]:
                    log.warning("medium %s: CER stays below %.2f even at strength 1", fam, MEDIUM_BAND[0])
                out[level][fam] = (round(lo, 3), round(max(hi, lo + 0.01), 3))
    return out


def noise_yaml(strength: dict[str, dict[str, tuple[float, float]]], dpi: float) -> str:
    """A docs build config (for `--config`): the fitted `samples.noise.strength` and the `pages.dpi` they
    were fitted at (the ranges hold for that render size)."""
    ranges = {lv: {f: [float(lo), float(hi)] for f, (lo, hi) in fams.items()} for lv, fams in strength.items()}
    return yaml.safe_dump({"pages": {"dpi": float(dpi)}, "samples": {"noise": {"strength": ranges}}}, sort_keys=True)
