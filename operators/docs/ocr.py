"""OcrRegions: fill `regions` of pages without a text layer by OCR, only where it can pay.

Contract:
- input and output: PAGE_SCHEMA rows. A page with `has_text_layer` true keeps its text layer when
  `operators.docs.layer_check` trusts it (a few lines per document read back by OCR); otherwise, the layer's
  lines are counted under the reason in `rejected_regions` and the page is read by OCR (or, with
  `layer_check.on_mismatch` "filter", rejected as filtered with the reason as error_type). A kept
  text-layer page with image areas its text does not cover (`operators.docs.mixed_pages`) gets OCR lines of
  those areas merged in reading order (`text_path` "mixed"); an area is read only when its ink can hold
  `gate.min_area_chars` characters (`operators.docs.ocr_gate`).
- a page without a text layer is recognised by the configured backend (`text_path` "ocr"); `regions` is
  replaced by OCR lines and blocks (`operators.docs.ocr_lines.ocr_regions`). Before that, the gates of
  `operators.docs.ocr_gate` stop OCR on a page that cannot pass the page filter: before detection (its
  ink: "blank_page", "no_glyph_ink") and, for a backend that detects and recognises apart
  (`StagedOcrBackend`), before recognition ("too_little_detected_text"). Such a page leaves with no
  regions and the reason in `ocr_skip`; the page filter then drops it (its error row keeps `ocr_skip`).
- with `record_seconds`, every page carries the wall seconds of its layer check (`layer_check_seconds`)
  and of its OCR, gates included (`ocr_seconds`); envelope columns, so the stats table has them for
  pages that yield samples and the errors table for pages dropped later. Off by default: seconds differ
  run to run, and a build's stats and errors tables are otherwise the same bytes every time.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from corpus.config_types import FRACTION, bounded
from operators.base import Operator, Reject, Row
from operators.docs.layer_check import LayerCheckConfig, LayerChecker
from operators.docs.mixed_pages import ImageAreaConfig, image_areas, merge_regions
from operators.docs.ocr_backends import OcrBackend, OcrLine, PaddleOcrBackend, RapidOcrBackend, StagedOcrBackend
from operators.docs.ocr_engine import OcrEngineConfig
from operators.docs.ocr_gate import OcrGateConfig, area_worth_reading, detection_verdict, ink_verdict
from operators.docs.ocr_lines import ocr_regions
from operators.docs.ocr_pool_config import OcrPoolConfig
from operators.docs.page_image import as_rgb, page_pixels
from schemas.tables import FILTERED, PAGE_SCHEMA


@dataclass
class OcrRegionsConfig:
    """Which OCR backend, when it runs, and how lines become regions."""

    backend: str = "rapidocr"  # "rapidocr" | "paddle"
    paddle_det_model_dir: str | None = None
    paddle_rec_model_dir: str | None = None
    engine: OcrEngineConfig = field(default_factory=OcrEngineConfig)  # rapidocr: resolution, batch, threads
    gate: OcrGateConfig = field(default_factory=OcrGateConfig)  # pages and image areas not worth OCR
    min_confidence: float = bounded(0.0, FRACTION)  # lines below are dropped here (RegionFilter applies its own threshold)
    group_blocks: bool = True
    block_gap: float = 0.8  # max vertical gap between lines of one block, in line heights
    record_seconds: bool = False  # per-page layer_check_seconds / ocr_seconds columns (not reproducible)
    layer_check: LayerCheckConfig = field(default_factory=LayerCheckConfig)  # text layer against pixels
    image_areas: ImageAreaConfig = field(default_factory=ImageAreaConfig)  # scanned parts of text-layer pages
    pool: OcrPoolConfig = field(default_factory=OcrPoolConfig)  # OCR on Ray actors (GPUs): `pipelines.ocr_pool`


def make_backend(config: OcrRegionsConfig) -> OcrBackend:
    """The backend named by `config.backend`."""
    if config.backend == "rapidocr":
        return RapidOcrBackend(config.engine)
    if config.backend == "paddle":
        return PaddleOcrBackend(config.paddle_det_model_dir, config.paddle_rec_model_dir)
    raise ValueError(f"unknown OCR backend {config.backend!r}")


class OcrRegions(Operator):
    """OCR for pages without a (trustworthy) text layer and for scanned parts of the others; see the
    module docstring."""

    stage = "ocr"
    reads = ("input_id", "image", "width", "height", "channels", "has_text_layer", "regions")
    reads_if_present = ("rejected_regions", "image_boxes", "dpi", "page_index", "text_path")
    writes = ("has_text_layer", "rejected_regions", "regions", "text_path")  # and the envelope's PAGE_COST_FIELDS
    keeps_input = True
    output_schema = PAGE_SCHEMA

    def __init__(self, config: OcrRegionsConfig | None = None, backend: OcrBackend | None = None) -> None:
        super().__init__()
        self.config = config or OcrRegionsConfig()
        self._backend = backend
        self.checker = LayerChecker(self.config.layer_check, lambda: self.backend.recognize_crops)

    @property
    def backend(self) -> OcrBackend:
        if self._backend is None:
            self._backend = make_backend(self.config)
        return self._backend

    def process(self, row: Row) -> Iterator[Row]:
        cfg = self.config
        start = time.perf_counter()
        if row.get("has_text_layer") and cfg.layer_check.enabled:
            if (why := self.checker.verdict(row, page_pixels(row))) is not None:
                n_lines = sum(r["granularity"] == "line" for r in row.get("regions") or [])
                rejected = {**dict(row.get("rejected_regions") or {}), why: n_lines}
                if cfg.layer_check.on_mismatch == "filter":
                    raise Reject(f"page {row.get('page_index')}: text layer disagrees with the page ({why})",
                                 FILTERED, error_type=why)
                row = {**row, "has_text_layer": False, "rejected_regions": rejected}
        checked = time.perf_counter()
        if row.get("has_text_layer"):
            out = self._mixed(row) if cfg.image_areas.enabled and row.get("image_boxes") else row
        else:
            out = self._ocr(row)
        if cfg.record_seconds:
            out = {**out, "layer_check_seconds": round(checked - start, 4),
                   "ocr_seconds": round(time.perf_counter() - checked, 4)}
        yield out

    def _lines(self, image: Any) -> tuple[list[OcrLine], str | None]:
        """The OCR lines of an RGB image, or none and why OCR stopped after detection."""
        backend = self.backend
        if not isinstance(backend, StagedOcrBackend):
            return backend.recognize(image), None
        quads = backend.detect(image)
        if (why := detection_verdict(quads, self.config.gate)) is not None:
            return [], why
        return backend.read(image, quads), None

    def _ocr(self, row: Row) -> Row:
        """The page read by OCR, unless a gate proves it cannot pass the page filter."""
        cfg = self.config
        pixels = page_pixels(row)
        lines, why = [], ink_verdict(pixels, cfg.gate)
        if why is None:
            image = as_rgb(pixels)
            lines, why = self._lines(image)
        regions = ocr_regions(lines, float(pixels.shape[0]), row.get("dpi"), cfg.min_confidence, cfg.group_blocks,
                              cfg.block_gap)
        return {**row, "regions": regions, "text_path": "ocr", "ocr_skip": why}

    def _mixed(self, row: Row) -> Row:
        """The text-layer page with OCR lines of its image areas that no layer text covers."""
        pixels = page_pixels(row)
        h, w = pixels.shape[:2]
        areas = image_areas(row["regions"], row["image_boxes"], w, h, self.config.image_areas)
        lines = []
        for x0, y0, x1, y1 in areas:
            crop = pixels[y0:y1, x0:x1]
            if not area_worth_reading(crop, self.config.gate):
                continue
            for ln in self.backend.recognize(as_rgb(crop)):
                b = ln.bbox
                lines.append(OcrLine((b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0), ln.text, ln.confidence))
        if not lines:
            return row
        ocr = ocr_regions(lines, float(h), row.get("dpi"), self.config.min_confidence, True, self.config.block_gap)
        merged = merge_regions(row["regions"], ocr, float(h))
        mixed = any(r["origin"] == "ocr" for r in merged)
        return {**row, "regions": merged, "text_path": "mixed" if mixed else row.get("text_path")}
