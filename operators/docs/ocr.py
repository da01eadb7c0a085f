"""OcrRegions: fill `regions` of pages without a text layer by OCR.

Contract:
- input and output: PAGE_SCHEMA rows. A page with `has_text_layer` true keeps its text layer when
  `operators.docs.layer_check` trusts it (a few lines per document read back by OCR); otherwise, the layer's
  lines are counted under the reason in `rejected_regions` and the page is read by OCR (or, with
  `layer_check.on_mismatch` "filter", rejected as filtered with the reason as error_type). A kept
  text-layer page with image areas its text does not cover (`operators.docs.mixed_pages`) gets OCR lines of
  those areas merged in reading order (`text_path` "mixed"). A page without a text layer is
  recognised by the configured backend (`text_path` "ocr"); `regions` is replaced by
  one "line" region per recognised line (origin "ocr", its confidence) plus "block" regions grouping
  neighbouring lines, both in column-aware reading order. `font_size` of an OCR region is estimated
  from its line height, in points (line height / 1.2 at the page's dpi; pixels if dpi is unknown).
- backends implement `OcrBackend.recognize(image: np.ndarray RGB uint8) -> list[OcrLine]` and, for the
  layer check, `recognize_crops(crops) -> list[(text, confidence)]` (one line per crop).
  RapidOCR's decoder is wrapped to keep English word spaces (`operators.docs.ocr_spaces`).
  `RapidOcrBackend` (default) runs PP-OCR ONNX models shipped in rapidocr-onnxruntime, fully offline,
  with the angle classifier off (it garbles upright lines); one engine per process, loaded lazily, on one
  onnxruntime thread (a pipeline worker owns one CPU; the default, one thread per core, made the thread
  partitioning of its kernels depend on the machine).
  `PaddleOcrBackend` needs paddleocr installed and local model directories.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from statistics import mean
from typing import Any, Protocol

import numpy as np

from corpus.config_types import FRACTION, bounded
from operators.base import Operator, Reject, Row
from operators.docs.layer_check import LayerCheckConfig, LayerChecker
from operators.docs.mixed_pages import ImageAreaConfig, image_areas, merge_regions
from operators.docs.ocr_spaces import SpacedCtcDecode
from operators.docs.page_image import as_rgb, page_pixels
from operators.docs.text_regions import reading_order
from schemas.tables import FILTERED, PAGE_SCHEMA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrLine:
    """One recognised line: axis-aligned bbox in image pixels (x0, y0, x1, y1), text, confidence 0-1."""

    bbox: tuple[float, float, float, float]
    text: str
    confidence: float


class OcrBackend(Protocol):
    """Anything that reads lines of text from an RGB image, and single lines from crops."""

    def recognize(self, image: np.ndarray) -> list[OcrLine]: ...

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]: ...


def _quad_to_bbox(points: Any) -> tuple[float, float, float, float]:
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


_RAPID_ENGINE: Any = None
_RAPID_LOCK = threading.Lock()


def _rapid_engine() -> Any:
    """The process-wide RapidOCR engine (detection and recognition on one thread each), created on first use."""
    global _RAPID_ENGINE
    with _RAPID_LOCK:
        if _RAPID_ENGINE is None:
            from rapidocr_onnxruntime import RapidOCR

            _RAPID_ENGINE = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
            rec = _RAPID_ENGINE.text_rec
            rec.postprocess_op = SpacedCtcDecode(rec.postprocess_op)  # keep English word spaces
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        return _RAPID_ENGINE


_RAPID_REC: Any = None


def _rapid_recognizer() -> Any:
    """The process-wide single-thread PP-OCR recogniser (rec model only), created on first use."""
    global _RAPID_REC
    with _RAPID_LOCK:
        if _RAPID_REC is None:
            from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
            from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
            from rapidocr_onnxruntime.utils import read_yaml, update_model_path

            config = update_model_path(read_yaml(DEFAULT_CFG_PATH))["Rec"]
            _RAPID_REC = TextRecognizer({**config, "intra_op_num_threads": 1, "inter_op_num_threads": 1})
            _RAPID_REC.postprocess_op = SpacedCtcDecode(_RAPID_REC.postprocess_op)
        return _RAPID_REC


class RapidOcrBackend:
    """rapidocr-onnxruntime (PP-OCRv4 det + rec, ONNX, offline); angle classifier disabled."""

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        result, _ = _rapid_engine()(bgr, use_cls=False)
        return [OcrLine(_quad_to_bbox(box), str(text), float(score)) for box, text, score in result or []]

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) of each RGB crop of one text line: the recogniser alone, on one thread
        (no detection model loaded; a pipeline worker owns one CPU)."""
        result, _ = _rapid_recognizer()([np.ascontiguousarray(c[:, :, ::-1]) for c in crops])
        return [(str(t), float(c)) for t, c in result]


class PaddleOcrBackend:
    """PaddleOCR 3.x on local ONNX model folders (each with an inference.yml); never downloads."""

    def __init__(self, det_model_dir: str | None, rec_model_dir: str | None) -> None:
        if not det_model_dir or not rec_model_dir:
            raise ValueError("PaddleOcrBackend needs local det_model_dir and rec_model_dir (no downloads)")
        try:
            from paddleocr import PaddleOCR
        except ImportError as e:
            raise ImportError("PaddleOcrBackend needs `pip install paddleocr` (extra: mmcorpus[paddle])") from e
        self.engine = PaddleOCR(
            engine="onnxruntime",
            text_detection_model_dir=det_model_dir,
            text_recognition_model_dir=rec_model_dir,
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
        )

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        lines = []
        for res in self.engine.predict(np.ascontiguousarray(image[:, :, ::-1])):
            for poly, text, score in zip(res["rec_polys"], res["rec_texts"], res["rec_scores"]):
                lines.append(OcrLine(_quad_to_bbox(poly), str(text), float(score)))
        return lines

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Each crop read as a whole (detection included): its lines joined by spaces."""
        out = []
        for crop in crops:
            lines = self.recognize(crop)
            out.append((" ".join(ln.text for ln in lines), mean(ln.confidence for ln in lines) if lines else 0.0))
        return out


@dataclass
class OcrRegionsConfig:
    """Which OCR backend, and how lines become regions."""

    backend: str = "rapidocr"  # "rapidocr" | "paddle"
    paddle_det_model_dir: str | None = None
    paddle_rec_model_dir: str | None = None
    min_confidence: float = bounded(0.0, FRACTION)  # lines below are dropped here (RegionFilter applies its own threshold)
    group_blocks: bool = True
    block_gap: float = 0.8  # max vertical gap between lines of one block, in line heights
    layer_check: LayerCheckConfig = field(default_factory=LayerCheckConfig)  # text layer against pixels
    image_areas: ImageAreaConfig = field(default_factory=ImageAreaConfig)  # scanned parts of text-layer pages


def make_backend(config: OcrRegionsConfig) -> OcrBackend:
    """The backend named by `config.backend`."""
    if config.backend == "rapidocr":
        return RapidOcrBackend()
    if config.backend == "paddle":
        return PaddleOcrBackend(config.paddle_det_model_dir, config.paddle_rec_model_dir)
    raise ValueError(f"unknown OCR backend {config.backend!r}")


def group_lines(lines: list[OcrLine], max_gap: float) -> list[list[int]]:
    """Indices of `lines` grouped into blocks: a line joins the block whose last line is just above it
    (gap <= max_gap line heights) and overlaps it horizontally; blocks in top-to-bottom order."""
    blocks: list[list[int]] = []
    for i in sorted(range(len(lines)), key=lambda i: (lines[i].bbox[1], lines[i].bbox[0])):
        x0, y0, x1, y1 = lines[i].bbox
        h = max(y1 - y0, 1.0)
        for block in blocks:
            bx0, by0, bx1, by1 = lines[block[-1]].bbox
            overlap = min(x1, bx1) - max(x0, bx0)
            if 0 <= y0 - by1 + 0.3 * h <= (max_gap + 0.3) * h and overlap > 0.3 * min(x1 - x0, bx1 - bx0):
                block.append(i)
                break
        else:
            blocks.append([i])
    return blocks


def _union(boxes: list[tuple[float, float, float, float]]) -> list[float]:
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def join_row_fragments(lines: list[OcrLine], max_gap: float = 1.5) -> list[OcrLine]:
    """Lines the detector cut at a wide word gap, joined: fragments that overlap vertically by more
    than half the lower one's height and lie at most `max_gap` line heights apart become one line
    (texts joined by a space, the lower confidence)."""
    out: list[OcrLine] = []
    for ln in sorted(lines, key=lambda ln: ln.bbox[0]):
        x0, y0, x1, y1 = ln.bbox
        for k, prev in enumerate(out):
            px0, py0, px1, py1 = prev.bbox
            h = max(y1 - y0, py1 - py0, 1.0)
            if min(y1, py1) - max(y0, py0) > 0.5 * min(y1 - y0, py1 - py0) and -0.5 * h <= x0 - px1 <= max_gap * h:
                out[k] = OcrLine((px0, min(y0, py0), max(x1, px1), max(y1, py1)), f"{prev.text.strip()} {ln.text.strip()}",
                                 min(prev.confidence, ln.confidence))
                break
        else:
            out.append(ln)
    return out


def ocr_regions(lines: list[OcrLine], page_height: float, dpi: float | None, config: OcrRegionsConfig) -> list[dict[str, Any]]:
    """Line and block regions (REGION_TYPE dicts) from OCR lines (row fragments joined), in reading order."""
    lines = join_row_fragments([ln for ln in lines if ln.text.strip() and ln.confidence >= config.min_confidence])
    to_pt = 72.0 / dpi / 1.2 if dpi else 1.0 / 1.2
    groups = group_lines(lines, config.block_gap) if config.group_blocks else [[i] for i in range(len(lines))]
    order = reading_order([tuple(_union([lines[i].bbox for i in g])) for g in groups], page_height)
    regions: list[dict[str, Any]] = []
    n_lines = 0
    for rank, gi in enumerate(order):
        group = groups[gi]
        heights = [(lines[i].bbox[3] - lines[i].bbox[1]) * to_pt for i in group]
        if config.group_blocks:
            regions.append({
                "bbox": _union([lines[i].bbox for i in group]),
                "text": "\n".join(lines[i].text.strip() for i in group),
                "granularity": "block", "order": rank, "font_size": float(np.median(heights)),
                "origin": "ocr", "confidence": mean(lines[i].confidence for i in group),
            })
        for i, h in zip(group, heights):
            regions.append({
                "bbox": list(lines[i].bbox), "text": lines[i].text.strip(), "granularity": "line",
                "order": n_lines, "font_size": h, "origin": "ocr", "confidence": lines[i].confidence,
            })
            n_lines += 1
    return regions


class OcrRegions(Operator):
    """OCR for pages without a (trustworthy) text layer and for scanned parts of the others; see the
    module docstring."""

    stage = "ocr"
    reads = ("input_id", "image", "width", "height", "channels", "has_text_layer", "regions")
    reads_if_present = ("rejected_regions", "image_boxes", "dpi", "page_index", "text_path")
    writes = ("has_text_layer", "rejected_regions", "regions", "text_path")
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
        if row.get("has_text_layer") and cfg.layer_check.enabled:
            if (why := self.checker.verdict(row, page_pixels(row))) is not None:
                n_lines = sum(r["granularity"] == "line" for r in row.get("regions") or [])
                rejected = {**dict(row.get("rejected_regions") or {}), why: n_lines}
                if cfg.layer_check.on_mismatch == "filter":
                    raise Reject(f"page {row.get('page_index')}: text layer disagrees with the page ({why})",
                                 FILTERED, error_type=why)
                row = {**row, "has_text_layer": False, "rejected_regions": rejected}
        if row.get("has_text_layer"):
            yield self._mixed(row) if cfg.image_areas.enabled and row.get("image_boxes") else row
            return
        image = as_rgb(page_pixels(row))
        lines = self.backend.recognize(image)
        yield {**row, "regions": ocr_regions(lines, float(image.shape[0]), row.get("dpi"), cfg), "text_path": "ocr"}

    def _mixed(self, row: Row) -> Row:
        """The text-layer page with OCR lines of its image areas that no layer text covers."""
        pixels = page_pixels(row)
        h, w = pixels.shape[:2]
        areas = image_areas(row["regions"], row["image_boxes"], w, h, self.config.image_areas)
        lines = []
        for x0, y0, x1, y1 in areas:
            for ln in self.backend.recognize(as_rgb(pixels[y0:y1, x0:x1])):
                b = ln.bbox
                lines.append(OcrLine((b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0), ln.text, ln.confidence))
        if not lines:
            return row
        ocr = ocr_regions(lines, float(h), row.get("dpi"), dataclasses.replace(self.config, group_blocks=True))
        merged = merge_regions(row["regions"], ocr, float(h))
        mixed = any(r["origin"] == "ocr" for r in merged)
        return {**row, "regions": merged, "text_path": "mixed" if mixed else row.get("text_path")}
