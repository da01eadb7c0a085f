"""Our OCR path against RapidOCR alone on the same rendered page images, in the same run.

The pages are scans that hold text (the demo scans, and tracemonkey pages rasterized and degraded as by
a scanner; `benchmarks/mixed_docs_set.py`), so the gates of `operators.docs.ocr_gate` let every page
through and the comparison is of the engine, not of the pages skipped. Each side reads every page once
to warm up, then `--rounds` times, in one process, one page at a time:

- raw: `rapidocr_onnxruntime.RapidOCR(intra_op_num_threads=T, inter_op_num_threads=1)` with the angle
  classifier off, as a user of the library would call it (its defaults otherwise);
- ours: `OcrRegions` on the page rows (ink gate, capped-resolution detection, detection gate, batched
  recognition, regions in reading order) with `ocr.engine.intra_op_threads=T`.

Prints pages/s of each and ours / raw (target >= 0.9), for each thread count of `--threads`, with the
characters each side read (ours: lines of confidence >= 0.5, as raw keeps) and the share of raw's characters
ours read too (the capped detection must not lose text), and the load average.

    python benchmarks/ocr_throughput.py --threads 1 2
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pymupdf
from mixed_docs_set import FIXTURES, _render, _scanned
from PIL import Image

from operators.docs.layer_check import LayerCheckConfig
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.ocr_engine import OcrEngineConfig
from operators.docs.page_image import pixel_columns
from pipelines.demo.documents import generate_demo_corpus

log = logging.getLogger("ocr_throughput")


def page_images(n_paper: int) -> list[np.ndarray]:
    """Gray page images: the three demo scans and `n_paper` scanned tracemonkey pages."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        scans = [np.asarray(Image.open(p).convert("L")) for p in generate_demo_corpus(Path(tmp)) if p.suffix == ".png"]
    paper = pymupdf.open(FIXTURES / "tracemonkey.pdf")
    return scans + [np.asarray(_scanned(_render(paper[i], 144), rng)) for i in range(n_paper)]


def chars(texts: list[str]) -> Counter[str]:
    """The multiset of non-space characters of `texts` (raw RapidOCR drops English word spaces: words
    would not compare)."""
    return Counter(c for t in texts for c in t if not c.isspace())


def raw_rapidocr(images: list[np.ndarray], rounds: int, threads: int) -> tuple[float, Counter[str]]:
    """(seconds per round, characters read) of RapidOCR alone."""
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    bgr = [np.ascontiguousarray(np.repeat(im[:, :, None], 3, axis=2)) for im in images]

    def one_round() -> Counter[str]:
        return chars([str(t) for im in bgr for _, t, _ in (engine(im, use_cls=False)[0] or [])])

    read = one_round()
    start = time.perf_counter()
    for _ in range(rounds):
        one_round()
    return (time.perf_counter() - start) / rounds, read


def ours(images: list[np.ndarray], rounds: int, engine: OcrEngineConfig) -> tuple[float, Counter[str]]:
    """(seconds per round, characters read) of `OcrRegions` on page rows of the same images."""
    config = OcrRegionsConfig(engine=engine, layer_check=LayerCheckConfig(enabled=False))
    op = OcrRegions(config)
    rows = [{"input_id": f"p{i}", "source": "", "shard_id": 0, "seq": 0, "page_index": 0, "dpi": 144.0,
             "has_text_layer": False, "regions": [], **pixel_columns(im)} for i, im in enumerate(images)]

    def one_round() -> Counter[str]:
        out = [r for row in rows for r in op.process(row)]
        return chars([g["text"] for r in out for g in r["regions"] if g["granularity"] == "line" and g["confidence"] >= 0.5])

    read = one_round()
    start = time.perf_counter()
    for _ in range(rounds):
        one_round()
    return (time.perf_counter() - start) / rounds, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-pages", type=int, default=4, help="scanned tracemonkey pages besides the 3 demo scans")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="onnxruntime intra-op threads to measure")
    parser.add_argument("--det-max-side", type=int, default=OcrEngineConfig().det_max_side)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    images = page_images(args.paper_pages)
    for threads in args.threads:
        raw_s, raw_chars = raw_rapidocr(images, args.rounds, threads)
        our_s, our_chars = ours(images, args.rounds, OcrEngineConfig(det_max_side=args.det_max_side, intra_op_threads=threads))
        recall = sum((raw_chars & our_chars).values()) / max(sum(raw_chars.values()), 1)
        log.info("%d pages, %d thread(s): raw RapidOCR %.3f pages/s (%d chars), ours %.3f pages/s (%d chars, %.1f%% of "
                 "raw's): ours / raw = %.2f  (det_max_side %d, load %.1f)", len(images), threads, len(images) / raw_s,
                 sum(raw_chars.values()), len(images) / our_s, sum(our_chars.values()), 100 * recall, raw_s / our_s,
                 args.det_max_side, os.getloadavg()[0])


if __name__ == "__main__":
    main()
