"""The PP-OCR models of rapidocr-onnxruntime, loaded once per worker process and run on our terms.

Contract:
- `engine(config) -> OcrEngine`: the process-wide engine for an `OcrEngineConfig` (created on first use,
  under a lock; `loads()` counts the engines this process created, one per distinct config and provider). It holds
  one detection and one recognition onnxruntime session (the models shipped in the rapidocr wheel; the
  angle classifier is never loaded: it garbles upright lines).
- `OcrEngine.detect(bgr) -> list[quad]`: text-line quadrilaterals (4 x 2 float32, image pixels) of a BGR
  uint8 image, top-to-bottom; detection runs on the image scaled down so its longer side is at most
  `det_max_side` pixels (default 1664: a letter or A4 page at 144-150 dpi is read at full size, larger
  renders and scans are scaled down; the cost is linear in pixels). Measured on a 150 dpi scan of a paper
  page, against its text layer: 4,211 of 4,282 characters right at 1664 (detection 0.95 CPU s), 4,145 at
  1280 (0.51 s), the same 85 lines. rapidocr's own "max" limit ignores the configured size (it picks
  960/1500/2000 by image size).
- `OcrEngine.read(bgr, quads) -> list[(text, confidence)]`: the recogniser on the crops of `quads`,
  `rec_batch` crops per model call (crops sorted by width, as rapidocr does); `read_crops(crops)` on
  ready BGR line crops. The decoder keeps English word spaces (`operators.docs.ocr_spaces`). One crop
  per call is the default: a batch pads every crop to its widest, and on one thread the padded batch
  cost more than the crops alone (227 lines of two scanned paper pages: 14.7-15.4 CPU s one at a time,
  17.5-18.1 by 3, 24.0-24.1 by 6, rapidocr's default; quantising the padded width to reuse shapes did
  not help). The batches (rapidocr's: crops sorted by width, `rec_batch` at a time) go to `READ_THREADS`
  threads, each running one batch on one onnxruntime thread, so a crop's text and confidence are those
  of a one-thread read whatever the thread count. Recognition is most of a dense page's OCR (49 of 56
  CPU s for 6 scanned paper pages, 690 lines); a task that outlasts the others (the last shard of a small
  build, a long scan) reads its lines on the CPUs they left idle, and where every CPU is busy the extra
  thread only shares a CPU.
- `engine(config, provider)`: the sessions run on onnxruntime's provider for `provider`
  (`operators.docs.ocr_providers`: "cpu" by default, "cuda" for the OCR actors of a GPU pool); an engine
  per (config, provider). `OcrEngine.providers()` says what the sessions actually run on.
- Sessions run on `intra_op_threads` threads (default 1: a pipeline worker owns one CPU, and one thread
  keeps the kernels' partitioning, hence the output, independent of the machine), with onnxruntime's CPU
  memory arena on: rapidocr turns it off, which makes every call with a new input shape plan and allocate
  anew (measured: 2.2 s against 0.9 s for the first 1664x1280 detection, 0.49-0.70 s against 0.36-0.39 s
  for a repeated 1280x992 one); page sizes and line widths vary, so most calls have a new shape.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus.config_types import AT_LEAST_ONE, bounded
from operators.docs.ocr_providers import Provider, session_providers
from operators.docs.ocr_spaces import SpacedCtcDecode

#: threads that read line crops concurrently (each with one onnxruntime thread): at most 2, so a busy
#: machine's CPUs are shared by at most twice as many runnable threads as tasks
READ_THREADS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class OcrEngineConfig:
    """How the PP-OCR models run."""

    det_max_side: int = bounded(1664, AT_LEAST_ONE)  # detection input: longer side at most this many pixels
    rec_batch: int = bounded(1, AT_LEAST_ONE)  # line crops per recogniser call (1 measured fastest on one thread)
    intra_op_threads: int = bounded(1, AT_LEAST_ONE)  # onnxruntime threads per session


class _Session:
    """One onnxruntime session (on `providers`) with the CPU memory arena on; the call interface rapidocr's
    classes use."""

    def __init__(self, model_path: str, threads: int, providers: list[str]) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.enable_cpu_mem_arena = True
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model_path, sess_options=opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: batch})

    def have_key(self, key: str = "character") -> bool:
        return key in self.session.get_modelmeta().custom_metadata_map

    def get_character_list(self, key: str = "character") -> list[str]:
        return self.session.get_modelmeta().custom_metadata_map[key].splitlines()


class _DetInput:
    """rapidocr's detection input (`DetPreProcess`: resized, normalised, channels first, float32) with the
    normalisation looked up in a table of its 256 values per channel: the same float32 values, without
    its float64 arithmetic on every pixel (measured on 150 dpi pages: 0.08-0.35 CPU s a page against 0.07;
    a page's detection costs ~0.8)."""

    def __init__(self, pre: Any) -> None:
        self.pre = pre
        levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(256, 1, 1), 3, axis=2)
        self.table = pre.normalize(levels).astype(np.float32).reshape(256, 3)

    def __call__(self, img: np.ndarray) -> np.ndarray | None:
        resized = self.pre.resize(img)
        if resized is None:
            return None
        return np.ascontiguousarray(self.table[resized, np.arange(3)].transpose(2, 0, 1))[np.newaxis]


def _rapid_config() -> dict[str, Any]:
    from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
    from rapidocr_onnxruntime.utils import read_yaml, update_model_path

    return update_model_path(read_yaml(DEFAULT_CFG_PATH))


class OcrEngine:
    """Detection and recognition sessions of one process; see the module docstring."""

    def __init__(self, config: OcrEngineConfig, provider: Provider = "cpu") -> None:
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess, DetPreProcess
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode
        from rapidocr_onnxruntime.main import RapidOCR

        self.config = config
        providers = session_providers(provider)
        rapid = _rapid_config()
        det_cfg, rec_cfg = rapid["Det"], rapid["Rec"]
        det = TextDetector.__new__(TextDetector)  # rapidocr's pre/post-processing on our session
        det.infer = _Session(det_cfg["model_path"], config.intra_op_threads, providers)
        det.postprocess_op = DBPostProcess(thresh=det_cfg["thresh"], box_thresh=det_cfg["box_thresh"],
                                           max_candidates=det_cfg["max_candidates"], unclip_ratio=det_cfg["unclip_ratio"],
                                           use_dilation=det_cfg["use_dilation"], score_mode=det_cfg["score_mode"])
        det_input = _DetInput(DetPreProcess(config.det_max_side, "max", det_cfg["mean"], det_cfg["std"]))
        det.get_preprocess = lambda _max_wh: det_input
        rec = TextRecognizer.__new__(TextRecognizer)
        rec.session = _Session(rec_cfg["model_path"], config.intra_op_threads, providers)
        rec.postprocess_op = SpacedCtcDecode(CTCLabelDecode(character=rec.session.get_character_list()))
        rec.rec_batch_num = config.rec_batch
        rec.rec_image_shape = rec_cfg["rec_img_shape"]
        self._detector, self._recognizer = det, rec
        self._crop = RapidOCR.get_crop_img_list  # perspective crop of each quad (uses no engine state)
        self._sort = RapidOCR.sorted_boxes
        self._pool: ThreadPoolExecutor | None = None

    def providers(self) -> list[str]:
        """The onnxruntime providers the detection session runs on (the recogniser's are made alike)."""
        return list(self._detector.infer.session.get_providers())

    def detect(self, bgr: np.ndarray) -> list[np.ndarray]:
        """Text-line quads of a BGR image, top-to-bottom then left-to-right."""
        boxes, _ = self._detector(bgr)
        return [] if boxes is None or len(boxes) == 0 else list(self._sort(boxes))

    def read(self, bgr: np.ndarray, quads: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) of the line under each quad."""
        return self.read_crops(self._crop(None, bgr, quads)) if quads else []

    def read_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) of each BGR crop of one text line."""
        if not crops:
            return []
        crops = [np.ascontiguousarray(c) for c in crops]
        order = np.argsort(np.array([c.shape[1] / float(c.shape[0]) for c in crops]))  # rapidocr's batches
        size = self.config.rec_batch
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch, result in zip(batches, self._readers().map(self._read_batch, [[crops[i] for i in b] for b in batches])):
            for i, (text, conf) in zip(batch, result):
                out[i] = (str(text), float(conf))
        return out

    def _read_batch(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return self._recognizer(crops)[0]

    def _readers(self) -> ThreadPoolExecutor:
        """The process's reading threads (created on first use; a worker process never forks after it)."""
        with _LOCK:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="ocr-read")
            return self._pool


_ENGINES: dict[tuple[OcrEngineConfig, Provider], OcrEngine] = {}
_LOCK = threading.Lock()


def engine(config: OcrEngineConfig | None = None, provider: Provider = "cpu") -> OcrEngine:
    """The process-wide engine for `config` (default settings when None) on `provider`, created on first use."""
    key = (config or OcrEngineConfig(), provider)
    with _LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = OcrEngine(*key)
        return _ENGINES[key]


def loads() -> int:
    """How many engines (each one detection + one recognition model load) this process created."""
    return len(_ENGINES)
