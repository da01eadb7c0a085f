"""Noise strengths fitted on a docs build's own pages before the build starts (`calibrate.pages` > 0).

Contract:
- `CalibrateConfig`: `pages` (0: off, the configured `samples.noise.strength` is used as it is),
  `regions` (text lines swept), `second_reader` ("tesseract" or "" for RapidOCR alone).
- `calibrated(items, out_dir, cfg)`: `cfg` with `samples.noise.strength` fitted by `sweep_and_fit` (every
  reader of `calibration_readers`) on up to `pages` pages of `items` (documents evenly spaced over the
  sorted inputs, pages evenly spaced in each), read on the driver before Ray starts. A build resuming a
  corpus whose earlier run was calibrated takes that run's ranges instead (recorded in manifest.json),
  so the resumed samples are those of the first run. The fit reads with OCR engines whose float
  kernels differ by CPU: the same command may fit other ranges on another machine; the manifest says
  which ranges a corpus was built with.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.manifest import Manifest
from corpus.storage import Store

log = logging.getLogger(__name__)


@dataclass
class CalibrateConfig:
    """Fit the noise strength ranges on the build's own pages first (a few minutes; off when pages is 0)."""

    pages: int = 0  # pages sampled from the inputs for the fit; 0 keeps samples.noise.strength as configured
    regions: int = 24  # text lines swept per fit (x 4 families x the strength grid x readers)
    second_reader: str = "tesseract"  # the independent reader beside RapidOCR; "" for RapidOCR alone


def recorded_strength(manifest: Manifest | None) -> dict[str, Any] | None:
    """The strength ranges of the last calibrated run recorded in `manifest`, or None."""
    for run in reversed(manifest.runs if manifest else []):
        config = run.get("config") or {}
        if (config.get("calibrate") or {}).get("pages"):
            return config["samples"]["noise"]["strength"]
    return None


def calibrated(items: list[InputItem], out_dir: "str | Path", cfg: Any) -> Any:
    """`cfg` (a `DocsConfig`) with its noise strengths fitted on `items` or taken from the corpus's last
    calibrated run; see the module docstring."""
    from operators.docs.legibility import calibration_readers
    from pipelines.calibration.fit import sweep_and_fit
    from pipelines.calibration.measure import document_pages

    want = cfg.calibrate
    if want.pages <= 0:
        return cfg
    if want.second_reader not in ("", "tesseract"):
        raise UserError(f"calibrate.second_reader={want.second_reader!r}: the choices are 'tesseract' or '' "
                        "(RapidOCR alone)")
    cfg = copy.deepcopy(cfg)
    earlier = recorded_strength(Manifest.load(Store.of(out_dir, cfg.run.storage_options)))
    if earlier:
        cfg.samples.noise.strength = {lv: {f: tuple(r) for f, r in fams.items()} for lv, fams in earlier.items()}
        log.info("calibrate: reusing the strengths an earlier run of this corpus fitted (no refit): %s", earlier)
        return cfg
    started = time.perf_counter()
    docs = [it for it in items if it.kind in ("pdf", "image")]
    chosen = [docs[i] for i in sorted(set(np.linspace(0, len(docs) - 1, min(len(docs), want.pages)).round().astype(int)))]
    pages = list(document_pages(chosen, cfg, math.ceil(want.pages / max(1, len(chosen)))))[: want.pages]
    if not pages:
        raise UserError(f"calibrate.pages={want.pages}: none of the {len(chosen)} documents sampled has a page with "
                        "text regions to fit the noise on; build without it (--set calibrate.pages=0)")
    readers, note = calibration_readers(want.second_reader or None)
    if note:
        log.warning(note)
    s = cfg.samples
    s.noise.strength, _ = sweep_and_fit(pages, s.noise, readers, want.regions, min_chars=s.min_region_chars,
                                        max_chars=s.max_region_chars, jpeg_quality=s.jpeg_quality, seed=cfg.run.seed)
    log.info("calibrate: noise strengths fitted on %d pages of %d documents (%d lines, %s) in %.0f s: %s",
             len(pages), len(chosen), want.regions, " + ".join(r.name for r in readers), time.perf_counter() - started,
             s.noise.strength)
    return cfg
