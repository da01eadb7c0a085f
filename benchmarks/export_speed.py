"""Export speed and peak memory of `mmcorpus export` on the 10,000-page docs corpus of `docs_memory.py`.

Builds the corpus (50 PDFs x 200 pages, in a child process so Ray's memory stays out of the figures)
unless `--corpus` names one, then in this process: a read-only pass over every sample (the baseline: the
same byte-range reads and tar parsing, nothing written), and an export per format. Prints samples/s,
the ratio to the read pass, and the peak RSS above the RSS before the export: streaming keeps it flat
whatever the corpus size (compare `--docs 5`).

    python benchmarks/export_speed.py --docs 50 --pages-per-doc 200 --num-cpus 2
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_memory import PeakRss, make_inputs

from corpus.index import CorpusIndex
from operators.docs.page_signature import NO_DEDUP  # the inputs repeat pages on purpose
from pipelines.export import ExportConfig, export_corpus
from pipelines.export.driver import _samples


def build(root: str, docs: int, pages_per_doc: int, num_cpus: int) -> None:
    from pipelines.docs import DocsConfig, build_docs
    from pipelines.engine.run_config import RunConfig

    make_inputs(Path(root), docs, pages_per_doc)
    cfg = DocsConfig(dedup=NO_DEDUP, run=RunConfig(num_cpus=num_cpus, inputs_per_shard=5, progress=False))
    build_docs([str(Path(root) / "inputs")], Path(root) / "corpus", cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--pages-per-doc", type=int, default=200)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--corpus", help="an existing corpus to export instead of building one")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            start = time.perf_counter()
            child = mp.get_context("spawn").Process(target=build, args=(tmp, args.docs, args.pages_per_doc, args.num_cpus))
            child.start()
            child.join()
            corpus = str(Path(tmp) / "corpus")
            print(f"built {args.docs * args.pages_per_doc} pages in {time.perf_counter() - start:.0f} s")
        n = CorpusIndex.load(corpus).n_samples
        start = time.perf_counter()
        for _ in _samples(CorpusIndex.load(corpus)):
            pass
        read_rate = n / (time.perf_counter() - start)
        print(f"samples: {n}; read pass (baseline): {read_rate:.0f} samples/s")
        gib = 1024 ** 3
        for fmt in ("minicpmv", "llava"):
            before = psutil.Process(os.getpid()).memory_info().rss
            with PeakRss(interval=0.1) as rss:
                start = time.perf_counter()
                summary = export_corpus(corpus, Path(tmp) / f"out-{fmt}", ExportConfig(fmt))
                seconds = time.perf_counter() - start
            size = summary.json_path.stat().st_size
            print(f"{fmt}: {summary.samples} samples, {summary.media_files} media files, JSON {size / 2**20:.1f} MiB, "
                  f"{summary.samples / seconds:.0f} samples/s ({summary.samples / seconds / read_rate:.2f}x the read pass); "
                  f"peak RSS {rss.peak_driver / gib:.2f} GiB, +{(rss.peak_driver - before) / 2**20:.0f} MiB over the start")


if __name__ == "__main__":
    main()
