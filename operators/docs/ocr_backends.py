"""OCR backends: what reads lines of text from a page image.

Contract:
- every backend implements `recognize(image: np.ndarray RGB uint8) -> list[OcrLine]` (detection and
  recognition of a whole image) and, for the layer check, `recognize_crops(crops) -> list[(text,
  confidence)]` (one line per RGB crop).
- a backend that can stop between the two stages (`StagedOcrBackend`) also implements
  `detect(image) -> list[quad]` and `read(image, quads) -> list[OcrLine]`, so that `OcrRegions` can skip
  recognition when the detected lines cannot hold enough text for the page filter.
- `RapidOcrBackend` (default) runs the PP-OCR ONNX models shipped in rapidocr-onnxruntime, fully offline,
  through the process-wide `operators.docs.ocr_engine` (one model load per process); `PaddleOcrBackend`
  needs paddleocr installed and local model directories (never downloads).
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import mean
from typing import Any, Protocol, runtime_checkable

import numpy as np

from operators.docs.ocr_engine import OcrEngineConfig, engine
from operators.docs.ocr_providers import Provider


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


@runtime_checkable
class StagedOcrBackend(Protocol):
    """A backend whose detection and recognition can run apart."""

    def detect(self, image: np.ndarray) -> list[np.ndarray]: ...

    def read(self, image: np.ndarray, quads: list[np.ndarray]) -> list[OcrLine]: ...


def quad_to_bbox(points: Any) -> tuple[float, float, float, float]:
    """The axis-aligned box (x0, y0, x1, y1) around a polygon's points."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


class RapidOcrBackend:
    """PP-OCRv4 det + rec (ONNX, offline) through `operators.docs.ocr_engine` on onnxruntime's `provider`;
    no angle classifier."""

    def __init__(self, config: OcrEngineConfig | None = None, provider: Provider = "cpu") -> None:
        self.config, self.provider = config or OcrEngineConfig(), provider

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """Text-line quads of an RGB image."""
        return engine(self.config, self.provider).detect(np.ascontiguousarray(image[:, :, ::-1]))

    def read(self, image: np.ndarray, quads: list[np.ndarray]) -> list[OcrLine]:
        """The lines under `quads` (from `detect` of the same image), empty texts included."""
        texts = engine(self.config, self.provider).read(np.ascontiguousarray(image[:, :, ::-1]), quads)
        return [OcrLine(quad_to_bbox(q), t, c) for q, (t, c) in zip(quads, texts)]

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        return self.read(image, self.detect(image))

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) of each RGB crop of one text line: the recogniser alone."""
        return engine(self.config, self.provider).read_crops([np.ascontiguousarray(c[:, :, ::-1]) for c in crops])


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
                lines.append(OcrLine(quad_to_bbox(poly), str(text), float(score)))
        return lines

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Each crop read as a whole (detection included): its lines joined by spaces."""
        out = []
        for crop in crops:
            lines = self.recognize(crop)
            out.append((" ".join(ln.text for ln in lines), mean(ln.confidence for ln in lines) if lines else 0.0))
        return out
