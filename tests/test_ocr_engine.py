"""The OCR engine reads a page's line crops on several threads: what a user gets (each line's text and
confidence, in the order of the crops) is that of a one-thread read, for any batch size."""
from __future__ import annotations

import numpy as np
import pytest
from doc_pages import input_row

from operators.docs import ocr_engine
from operators.docs.ocr_engine import OcrEngine, OcrEngineConfig
from operators.docs.page_image import as_rgb, page_pixels
from operators.docs.pdf_pages import PdfPages


@pytest.fixture(scope="module")
def scan_bgr(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """A demo scan of a page of text, as the engine gets it (BGR)."""
    from pipelines.demo.documents import generate_demo_corpus

    scan = next(p for p in generate_demo_corpus(tmp_path_factory.mktemp("demo")) if p.name == "scan-01.png")
    rgb = as_rgb(page_pixels(PdfPages()([input_row(scan, kind="image")]).to_pylist()[0]))
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.mark.parametrize("rec_batch", [1, 3])
def test_lines_read_on_two_threads_are_those_read_on_one(scan_bgr: np.ndarray, rec_batch: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    reads = {}
    for threads in (1, 2):
        monkeypatch.setattr(ocr_engine, "READ_THREADS", threads)
        eng = OcrEngine(OcrEngineConfig(rec_batch=rec_batch))
        quads = eng.detect(scan_bgr)
        reads[threads] = eng.read(scan_bgr, quads)
    assert len(reads[1]) == len(quads) >= 8
    assert reads[2] == reads[1]
    assert sum(len(t) for t, _ in reads[1]) > 300  # a page of text, not empty reads


def test_crops_come_back_in_the_order_given(scan_bgr: np.ndarray) -> None:
    eng = ocr_engine.engine()
    crops = eng._crop(None, scan_bgr, eng.detect(scan_bgr))
    one_by_one = [eng.read_crops([c])[0] for c in crops]
    assert eng.read_crops(crops[::-1]) == one_by_one[::-1]


def test_the_detection_input_is_rapidocrs_to_the_byte(scan_bgr: np.ndarray) -> None:
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    pre = DetPreProcess(OcrEngineConfig().det_max_side, "max", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    noise = np.random.default_rng(0).integers(0, 256, (700, 900, 3), dtype=np.uint8)  # every byte value
    for image in (scan_bgr, noise):
        want, got = pre(image), ocr_engine._DetInput(pre)(image)
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
