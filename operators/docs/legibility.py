"""Legibility of a region: its crop read back by an OCR engine, scored by character error rate (CER).

Contract:
- `normalise(text)`: NFKC, case-folded, every whitespace character removed (the shipped PP-OCRv4
  recogniser drops word spaces in English, so spaces would count as errors of the engine, not of the
  noise). Hypothesis and reference are normalised the same way.
- `cer(hyp, ref)`: Levenshtein distance of the normalised strings / length of the normalised reference,
  clipped to [0, 1] (an empty or garbage read of a masked region scores 1.0); 0.0 when both are empty.
- `line_boxes(bbox, regions)`: the boxes to read for a region: the page's line regions whose centre
  lies in `bbox`, in reading order (a line region is its own only line); `[bbox]` when there is none.
- `region_crop(image, bbox, fill)`: the box's pixels only (nothing of neighbouring lines), padded by
  PAD_PX of `fill` (default: the local background); RGB uint8.
- `read_region(reader, image, boxes, fill)`: each line box read by `reader` (recognition only: the
  recogniser on a tight line crop, as the page OCR does after detection), joined by spaces; a crop
  without ink (`shows_ink`: under MIN_CONTRAST grey levels from its median anywhere) reads as "": what a
  reader "reads" in a blank box (tesseract finds "Co" or "EE" in pure white) is not legibility.
  `RapidLineReader` is the project's RapidOCR engine (PP-OCRv4 rec, offline, angle classifier off).
- `calibration_readers(second)`: the readers a calibration uses: RapidOCR, plus the independent second
  reader `second` ("tesseract", `operators.docs.tesseract_reader`) when it is installed; and a one-line
  note when it is not (the calibration then runs with one reader).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from operators.docs.corrupt import MIN_CONTRAST, background, pixel_box
from operators.docs.ocr_engine import engine
from operators.docs.unicode_text import normalise

#: padding around a line crop, pixels (wider padding measured worse for the recogniser)
PAD_PX = 2


class LineReader(Protocol):
    """Anything that reads the one line of text in a tight crop; `name` labels its figures."""

    name: str

    def read_line(self, crop: np.ndarray) -> str: ...


class RapidLineReader:
    """The project's PP-OCR recogniser (`operators.docs.ocr_engine`), recognition only."""

    name = "rapidocr"

    def read_line(self, crop: np.ndarray) -> str:
        return engine().read_crops([np.ascontiguousarray(crop[:, :, ::-1])])[0][0]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit insert, delete, substitute); one numpy pass per character of `a`."""
    if not a or not b:
        return len(a) + len(b)
    codes = np.array([ord(c) for c in b], dtype=np.int64)
    steps = np.arange(len(b) + 1, dtype=np.int64)
    row = steps.copy()
    for i, ch in enumerate(a, 1):
        cand = np.empty_like(row)
        cand[0] = i
        cand[1:] = np.minimum(row[1:] + 1, row[:-1] + (codes != ord(ch)))
        # insertions: new[j] = min_k<=j cand[k] + (j - k)
        row = np.minimum.accumulate(cand - steps) + steps
    return int(row[-1])


def cer(hyp: str, ref: str) -> float:
    """Character error rate of `hyp` against `ref` after `normalise`, clipped to [0, 1]."""
    h, r = normalise(hyp), normalise(ref)
    if not r:
        return 0.0 if not h else 1.0
    return min(1.0, edit_distance(h, r) / len(r))


def line_boxes(bbox: Sequence[float], regions: Sequence[Mapping[str, Any]]) -> list[Sequence[float]]:
    """The line boxes of `regions` whose centre lies inside `bbox`, in reading order; else `[bbox]`."""
    x0, y0, x1, y1 = bbox
    inside = [r for r in regions if r["granularity"] == "line"
              and x0 <= (r["bbox"][0] + r["bbox"][2]) / 2 <= x1 and y0 <= (r["bbox"][1] + r["bbox"][3]) / 2 <= y1]
    return [r["bbox"] for r in sorted(inside, key=lambda r: r["order"])] or [bbox]


def region_crop(image: np.ndarray, bbox: Sequence[float], fill: np.ndarray | None = None) -> np.ndarray:
    """The pixels of `bbox` padded by PAD_PX of `fill` (default: the local background of `image`), as RGB."""
    x0, y0, x1, y1 = pixel_box(bbox, image.shape[1], image.shape[0])
    patch = image[y0:y1, x0:x1]
    if patch.ndim == 2:
        patch = np.repeat(patch[:, :, None], 3, axis=2)
    fill = background(image, bbox) if fill is None else fill
    out = np.empty((patch.shape[0] + 2 * PAD_PX, patch.shape[1] + 2 * PAD_PX, 3), dtype=np.uint8)
    out[...] = np.broadcast_to(np.asarray(fill, dtype=np.uint8).reshape(-1), (3,))
    out[PAD_PX:PAD_PX + patch.shape[0], PAD_PX:PAD_PX + patch.shape[1]] = patch
    return out


def shows_ink(crop: np.ndarray) -> bool:
    """Whether any pixel of `crop` lies MIN_CONTRAST grey levels or more from the crop's median."""
    lum = crop.astype(np.float32) if crop.ndim == 2 else crop.astype(np.float32).mean(axis=2)
    return bool(lum.size) and float(np.abs(lum - np.median(lum)).max()) >= MIN_CONTRAST


def read_region(reader: LineReader, image: np.ndarray, boxes: Sequence[Sequence[float]],
                fill: np.ndarray | None = None) -> str:
    """The text `reader` reads in each of `boxes` of `image`, joined by spaces ("" for a crop without ink)."""
    crops = (region_crop(image, b, fill) for b in boxes)
    return " ".join(reader.read_line(c) if shows_ink(c) else "" for c in crops)


def calibration_readers(second: str | None = "tesseract") -> tuple[list[LineReader], str | None]:
    """[RapidOCR, the second reader] and None, or [RapidOCR] and a note saying why the second is absent."""
    from operators.docs.tesseract_reader import TesseractLineReader, tesseract_missing

    if not second:
        return [RapidLineReader()], "second reader turned off: legibility measured by RapidOCR alone"
    if second != "tesseract":
        raise ValueError(f"unknown second reader {second!r}: the choices are 'tesseract' or none")
    missing = tesseract_missing()
    if missing:
        return [RapidLineReader()], f"second reader unavailable ({missing}): legibility measured by RapidOCR alone"
    return [RapidLineReader(), TesseractLineReader()], None
