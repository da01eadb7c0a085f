"""One OCR actor of the pool: the process-wide OCR engine of its worker, on the pool's provider.

Contract: the methods are `RapidOcrBackend`'s (`detect`, `read`, `recognize`, `recognize_crops`) on RGB
uint8 images, run by one engine (`operators.docs.ocr_engine.engine`) whose onnxruntime sessions use the
pool's provider; `ready()` loads the models and returns the providers the sessions actually run on, so
the pool can refuse a CUDA pool that fell back to the CPU before any page is sent. Stateless between
calls: any actor reads any page, and a restarted actor reads the same lines.
"""
from __future__ import annotations

import numpy as np

from operators.docs.ocr_backends import OcrLine, RapidOcrBackend
from operators.docs.ocr_engine import OcrEngineConfig, engine
from operators.docs.ocr_providers import Provider


class OcrActor:
    """A `RapidOcrBackend` in its own Ray worker; made with `ray.remote` by `pipelines.ocr_pool.pool`."""

    def __init__(self, config: OcrEngineConfig, provider: Provider) -> None:
        self.backend = RapidOcrBackend(config, provider)

    def ready(self) -> list[str]:
        """The onnxruntime providers the engine's sessions run on (the models load here)."""
        return engine(self.backend.config, self.backend.provider).providers()

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        return self.backend.detect(image)

    def read(self, image: np.ndarray, quads: list[np.ndarray]) -> list[OcrLine]:
        return self.backend.read(image, quads)

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        return self.backend.recognize(image)

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return self.backend.recognize_crops(crops)
