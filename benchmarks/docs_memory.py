"""Peak memory of a docs build over at least 10,000 pages: streaming and backpressure keep it bounded.

Builds 50 PDFs of 200 pages (the demo pages repeated, so page-range splitting is exercised), samples
the resident memory of the driver and of every process under it (raylet, workers, object store) twice
a second, and prints the peaks with the pages/s. Memory of a streaming build should not grow with the
number of pages: compare the peak with `--docs 10`.

    python benchmarks/docs_memory.py --docs 50 --pages-per-doc 200 --num-cpus 2
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pymupdf

from operators.docs.page_signature import NO_DEDUP  # the inputs repeat pages on purpose
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig


def make_inputs(root: Path, docs: int, pages_per_doc: int) -> int:
    """`docs` PDFs of `pages_per_doc` pages each, from the demo pages; returns the page count."""
    src = pymupdf.open()
    for p in generate_demo_corpus(root / "src"):
        if p.suffix == ".pdf" and "scan" not in p.name:
            src.insert_pdf(pymupdf.open(p))
    out = root / "inputs"
    out.mkdir()
    for d in range(docs):
        doc = pymupdf.open()
        while doc.page_count < pages_per_doc:
            doc.insert_pdf(src, to_page=min(src.page_count, pages_per_doc - doc.page_count) - 1)
        doc.save(out / f"big-{d:04d}.pdf", no_new_id=True)
    return docs * pages_per_doc


class PeakRss:
    """Samples the RSS of this process and all its descendants in a thread; keeps the peaks: the driver's,
    the largest single Ray worker's (`ray::` processes) and all of them together."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.peak_total, self.peak_driver, self.peak_worker = interval, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                    if p.name().startswith("ray::"):
                        self.peak_worker = max(self.peak_worker, rss)
                except psutil.Error:
                    continue
                total += rss
            self.peak_driver = max(self.peak_driver, me.memory_info().rss)
            self.peak_total = max(self.peak_total, total)
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--pages-per-doc", type=int, default=200)
    ap.add_argument("--num-cpus", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pages = make_inputs(root, args.docs, args.pages_per_doc)
        cfg = DocsConfig(dedup=NO_DEDUP, run=RunConfig(num_cpus=args.num_cpus, inputs_per_shard=5, progress=False))
        with PeakRss() as rss:
            start = time.perf_counter()
            summary = build_docs([str(root / "inputs")], root / "corpus", cfg)
            seconds = time.perf_counter() - start
        corpus_bytes = sum(f.stat().st_size for f in (root / "corpus" / "shards").glob("*.tar"))
    gib = 1024 ** 3
    print(f"pages: {pages}  samples: {summary.samples}  errors: {summary.errors}  lost: {len(summary.lost_inputs)}")
    print(f"corpus written: {corpus_bytes / gib:.2f} GiB in {summary.shards_written} shards, {seconds:.0f} s, {pages / seconds:.1f} pages/s")
    print(f"peak RSS, driver: {rss.peak_driver / gib:.2f} GiB; driver + Ray processes: {rss.peak_total / gib:.2f} GiB")
    print(f"ratio peak memory / corpus size: {rss.peak_total / max(corpus_bytes, 1):.2f}x")


if __name__ == "__main__":
    main()
