"""CER of corrupted regions per noise level x family x granularity, read back by two independent readers.

Builds the samples with the docs build's own operators (no Ray) on each document set named, crops every
corrupted region and the same box of the clean page, reads both line by line with RapidOCR's recogniser
(PP-OCRv4, the project's own, angle classifier off) and with tesseract 5 (LSTM; `pip install
'mmcorpus[tesseract]'`; without it, RapidOCR alone, said in one line), and prints per set both readers'
median CER per level x family x granularity against each level's band (`schemas.noise`: light <= 0.10,
medium 0.30-0.80, masked >= 0.95; a level holds only where both readers agree), and the bands missed.
CER: NFKC, case-folded, whitespace removed on both sides; Levenshtein / reference length, clipped to 1.

    python benchmarks/noise_calibration.py --demo --papers          # the README's table: both sets
    python benchmarks/noise_calibration.py my_pdfs/ --parquet cer.parquet
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from corpus.config import load_config
from operators.docs.legibility import calibration_readers
from pipelines.calibration.measure import (
    MIN_GROUP,
    check_targets,
    corpus_pages,
    format_table,
    measure,
    summarise,
    write_table,
)
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pdfs"
PAPER_FILES = ("tracemonkey.pdf", "alphatrans.pdf", "issue14200.pdf")  # a 14-page paper, a photo page, a scan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="PDFs, page images or folders: one more document set")
    ap.add_argument("--demo", action="store_true", help="measure the generated demo corpus (11-12.5 pt)")
    ap.add_argument("--papers", action="store_true", help=f"measure the fixture papers in {PAPERS} (9-10 pt)")
    ap.add_argument("--config", help="docs build YAML config (noise knobs under samples.noise)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--max-regions", type=int, default=600, help="corrupted regions measured per set")
    ap.add_argument("--pages-per-doc", type=int, default=14, help="evenly spaced pages kept per document")
    ap.add_argument("--samples-per-page", type=int, default=8,
                    help="corrupt samples per page (samples.corrupt_samples; more regions per group than a build makes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--second-reader", default="tesseract", choices=("tesseract", "none"),
                    help="the independent reader beside RapidOCR")
    ap.add_argument("--parquet", help="write the per-region table of every set here (a `set` per row in its name)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    cfg = load_config(DocsConfig, args.config, args.overrides + [f"samples.corrupt_samples={args.samples_per_page}",
                                                                  f"run.seed={args.seed}"])
    readers, note = calibration_readers(None if args.second_reader == "none" else args.second_reader)
    if note:
        print(note)
    missed_total = judged_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        sets: dict[str, list[str]] = {}
        if args.demo:
            generate_demo_corpus(Path(tmp) / "demo")
            sets["demo"] = [str(Path(tmp) / "demo")]
        if args.papers:
            if not PAPERS.is_dir():
                ap.error(f"--papers needs the shared fixtures at {PAPERS}")
            sets["papers"] = [str(PAPERS / name) for name in PAPER_FILES]
        if args.inputs:
            sets["inputs"] = list(args.inputs)
        if not sets:
            ap.error("give INPUTs, --demo or --papers")
        for name, inputs in sets.items():
            start = time.perf_counter()
            pages = list(corpus_pages(inputs, cfg, args.pages_per_doc))
            rows = measure(pages, cfg.samples, readers, args.max_regions, args.seed)
            checks = check_targets(rows)
            missed = [text for text, ok in checks if not ok]
            missed_total, judged_total = missed_total + len(missed), judged_total + len(checks)
            regions = len({(r["key"], r["text"], r["strength"]) for r in rows})
            print(f"\n## {name}: {len(pages)} pages, {regions} regions, readers {', '.join(r.name for r in readers)}, "
                  f"{time.perf_counter() - start:.0f} s")
            print(format_table(summarise(rows)))
            print("\n".join(f"[MISSED] {text}" for text in missed) or "every band held")
            if args.parquet:
                path = Path(args.parquet)
                print("table:", write_table(rows, path.with_name(f"{path.stem}-{name}{path.suffix}")))
    print(f"\n{judged_total - missed_total} of {judged_total} bands held (groups of at least {MIN_GROUP} regions, "
          "and every level x family over all regions)")


if __name__ == "__main__":
    main()
