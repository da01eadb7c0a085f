"""CER of corrupted regions per noise level x family x granularity, read back by the project's OCR engine.

Builds the samples with the docs build's own operators (no Ray) on the demo corpus (`--demo`) or on
the PDFs/images given, crops every corrupted region and the same box of the clean page, reads both
line by line with two independent readers, RapidOCR's recogniser (PP-OCRv4, the project's own, angle
classifier off) and tesseract 5 (LSTM; `pip install 'mmcorpus[tesseract]'`; without it, RapidOCR alone,
said in one line), and prints both readers' median CER per level x family x granularity with each
level's band (light <= 0.10, medium 0.30-0.80, masked 1.0: a level holds only where both agree).
CER: NFKC, case-folded, whitespace removed on both sides; Levenshtein / reference length, clipped to 1.

    python benchmarks/noise_calibration.py --demo --max-regions 400
    python benchmarks/noise_calibration.py ../shared/fixtures/pdfs/tracemonkey.pdf ../shared/fixtures/pdfs/alphatrans.pdf
    python benchmarks/noise_calibration.py --demo --write-config noise.yaml   # refit the strength ranges
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from corpus.config import load_config
from operators.docs.legibility import calibration_readers
from pipelines.calibration.measure import check_targets, corpus_pages, format_table, measure, summarise, write_table
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="PDFs, page images or folders (default with --demo: the demo corpus)")
    ap.add_argument("--demo", action="store_true", help="measure on the generated demo corpus")
    ap.add_argument("--config", help="docs build YAML config (noise knobs under samples.noise)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--max-regions", type=int, default=400, help="stop after this many corrupted regions")
    ap.add_argument("--pages-per-doc", type=int, default=6, help="evenly spaced pages kept per document")
    ap.add_argument("--samples-per-page", type=int, default=3, help="corrupt samples per page (samples.corrupt_samples)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--second-reader", default="tesseract", choices=("tesseract", "none"),
                    help="the independent reader beside RapidOCR")
    ap.add_argument("--parquet", help="write the per-region table here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_config(DocsConfig, args.config, args.overrides + [f"samples.corrupt_samples={args.samples_per_page}",
                                                                  f"run.seed={args.seed}"])
    with tempfile.TemporaryDirectory() as tmp:
        inputs = list(args.inputs)
        if args.demo:
            inputs.append(str(Path(tmp) / "demo"))
            generate_demo_corpus(Path(tmp) / "demo")
        if not inputs:
            ap.error("give INPUTs or --demo")
        start = time.perf_counter()
        pages = list(corpus_pages(inputs, cfg, args.pages_per_doc))
        readers, note = calibration_readers(None if args.second_reader == "none" else args.second_reader)
        if note:
            print(note)
        rows = measure(pages, cfg.samples, readers, args.max_regions, args.seed)
    print(f"{len(pages)} pages, {len({(r['key'], r['text'], r['strength']) for r in rows})} regions, "
          f"readers {', '.join(r.name for r in readers)}, {time.perf_counter() - start:.0f} s")
    print(format_table(summarise(rows)))
    for text, ok in check_targets(rows):
        print(f"[{'ok' if ok else 'MISSED'}] {text}")
    if args.parquet:
        print("table:", write_table(rows, args.parquet))


if __name__ == "__main__":
    main()
