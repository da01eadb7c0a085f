"""Pages/s of the full docs pipeline against the raw floor measured in the same run.

The floor is a single-process loop that only renders the same pages at the same DPI and encodes each
as JPEG. The pipeline does everything a build does (text regions, filters, corruption, samples, tars,
stats) on local Ray with `--num-cpus` CPUs, writing the corpus to `--out`: a local folder (default: a
temp folder) or an object-store URL; `--local-s3` starts moto's S3 server on 127.0.0.1 and writes
there. Prints both rates and their ratio.

    python benchmarks/docs_throughput.py --copies 30 --num-cpus 2
    python benchmarks/docs_throughput.py --copies 30 --local-s3
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import shutil
import tempfile
import time
from pathlib import Path

import pymupdf
from PIL import Image

from cpu_time import cpu_between, print_ratios, tree_cpu_seconds
from local_s3 import local_s3
from pipelines.build import RunConfig
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs

log = logging.getLogger("docs_throughput")


def make_inputs(root: Path, copies: int, merge: bool) -> list[Path]:
    """`copies` copies of the text-layer demo pages (scans excluded: the floor does no OCR): either the
    8 demo PDFs as they are (1-3 pages each) or, with `merge`, one 16-page PDF per copy."""
    src = [p for p in generate_demo_corpus(root / "src") if p.suffix == ".pdf" and "scan" not in p.name]
    if merge:
        merged = pymupdf.open()
        for p in src:
            merged.insert_pdf(pymupdf.open(p))
        merged.save(root / "src" / "demo-merged.pdf")
        src = [root / "src" / "demo-merged.pdf"]
    out = root / "inputs"
    out.mkdir()
    paths = []
    for c in range(copies):
        for p in src:
            dst = out / f"{p.stem}-copy{c:03d}.pdf"
            shutil.copy(p, dst)
            paths.append(dst)
    return paths


def raw_floor(paths: list[Path], dpi: float, quality: int) -> tuple[int, float]:
    """Render every page and encode it as JPEG in one process: (pages, seconds)."""
    start, pages = time.perf_counter(), 0
    for p in paths:
        with pymupdf.open(p) as doc:
            for page in doc:
                pix = page.get_pixmap(dpi=round(dpi))
                img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
                img.save(io.BytesIO(), "JPEG", quality=quality)
                pages += 1
    return pages, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=30, help="copies of the 8 demo PDFs (16 pages per copy)")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--small-docs", action="store_true",
                    help="the 8 demo PDFs as they are (1-3 pages: Ray's per-task cost weighs more) instead of 16-page documents")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repetitions; the best of each is kept")
    ap.add_argument("--out", help="where the builds write: a folder or a URL such as s3://bucket/bench (default: temp)")
    ap.add_argument("--local-s3", action="store_true", help="start moto's S3 server here and write to s3://bench")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, (local_s3("bench") if args.local_s3 else contextlib.nullcontext()) as s3:
        root = Path(tmp)
        out = (args.out or s3 or str(root)).rstrip("/")
        paths = make_inputs(root, args.copies, merge=not args.small_docs)
        cfg = DocsConfig(run=RunConfig(num_cpus=args.num_cpus, inputs_per_shard=16, progress=False))
        build_docs([str(root / "inputs")], f"{out}/warmup", cfg)  # Ray start-up is not throughput
        floor_s, pipe_s, floor_cpu, pipe_cpu = [], [], [], []
        for rep in range(args.repeats):  # interleaved, best of each: fair when the machine is shared
            before = tree_cpu_seconds()
            pages, s = raw_floor(paths, cfg.pages.dpi, cfg.samples.jpeg_quality)
            floor_cpu.append(cpu_between(before, tree_cpu_seconds()))
            floor_s.append(s)
            before = tree_cpu_seconds()
            start = time.perf_counter()
            summary = build_docs([str(root / "inputs")], f"{out}/corpus-{rep}", cfg)
            pipe_s.append(time.perf_counter() - start)
            pipe_cpu.append(cpu_between(before, tree_cpu_seconds()))
    floor_s, pipe_s, floor_cpu, pipe_cpu = min(floor_s), min(pipe_s), min(floor_cpu), min(pipe_cpu)
    floor_rate, pipe_rate = pages / floor_s, pages / pipe_s
    print(f"pages: {pages} in {len(paths)} documents  samples: {summary.samples}  errors: {summary.errors}  out: {out}")
    print(f"bytes received by the driver: {summary.driver_bytes} ({summary.driver_bytes / max(1, summary.samples):.1f} per sample)")
    print(f"{'raw floor (render + JPEG, 1 process)':44s} {floor_rate:8.1f} pages/s")
    print(f"{f'pipeline (full, {args.num_cpus} CPUs, warm Ray)':44s} {pipe_rate:8.1f} pages/s")
    print_ratios("page", pages, (floor_s, floor_cpu), (pipe_s, pipe_cpu), args.num_cpus, 44)


if __name__ == "__main__":
    main()
