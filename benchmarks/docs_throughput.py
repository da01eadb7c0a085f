"""Pages/s of the full docs pipeline against the raw floor measured in the same run.

The floor is a single-process loop that only renders the same pages at the same DPI and encodes each
as JPEG. The pipeline does everything a build does (text regions, filters, corruption, samples, tars,
stats) on local Ray with `--num-cpus` CPUs, writing the corpus to `--out`: a local folder (default: a
temp folder) or an object-store URL; `--local-s3` starts moto's S3 server in its own process on
127.0.0.1 and writes there. Prints both rates, their ratio, the CPU ms per page of the build's own
processes (driver, Ray workers) and, apart, of the S3 server (on a real store that CPU is not the
cluster's), with the load average.

    python benchmarks/docs_throughput.py --copies 30 --num-cpus 2
    python benchmarks/docs_throughput.py --copies 30 --local-s3
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import pymupdf
from cpu_time import cpu_between, print_ratios, tree_cpu_seconds
from local_s3 import local_s3
from PIL import Image

from operators.docs.page_signature import NO_DEDUP  # the inputs repeat pages on purpose
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig

log = logging.getLogger("docs_throughput")


def make_inputs(root: Path, copies: int, merge: bool) -> list[Path]:
    """`copies` copies of the text-layer demo pages (scans excluded: the floor does no OCR): either the
    8 demo PDFs as they are (1-3 pages each) or, with `merge`, one 16-page PDF per copy."""
    src = [p for p in generate_demo_corpus(root / "src") if p.suffix == ".pdf" and "scan" not in p.name]
    if merge:
        merged = pymupdf.open()
        for p in src:
            merged.insert_pdf(pymupdf.open(p))
        merged.save(root / "src" / "demo-merged.pdf", no_new_id=True)
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
        out = (args.out or (s3.url if s3 else str(root))).rstrip("/")
        server = (s3.pid,) if s3 else ()  # the S3 server's CPU is measured apart, never charged to the build
        paths = make_inputs(root, args.copies, merge=not args.small_docs)
        cfg = DocsConfig(dedup=NO_DEDUP, run=RunConfig(num_cpus=args.num_cpus, inputs_per_shard=16, progress=False))
        build_docs([str(root / "inputs")], f"{out}/warmup", cfg)  # Ray start-up is not throughput
        floor_s, pipe_s, floor_cpu, pipe_cpu, server_cpu, load = [], [], [], [], [], []
        disk_s, disk_cpu = [], []  # with a remote --out: the same build to local disk, same run, as baseline
        for rep in range(args.repeats):  # interleaved, best of each: fair when the machine is shared
            before = tree_cpu_seconds(server)
            pages, s = raw_floor(paths, cfg.pages.dpi, cfg.samples.jpeg_quality)
            floor_cpu.append(cpu_between(before, tree_cpu_seconds(server)))
            floor_s.append(s)
            load.append(os.getloadavg()[0])
            before, server_before = tree_cpu_seconds(server), s3.cpu_seconds() if s3 else 0.0
            start = time.perf_counter()
            summary = build_docs([str(root / "inputs")], f"{out}/corpus-{rep}", cfg)
            pipe_s.append(time.perf_counter() - start)
            pipe_cpu.append(cpu_between(before, tree_cpu_seconds(server)))
            server_cpu.append((s3.cpu_seconds() - server_before) if s3 else 0.0)
            load.append(os.getloadavg()[0])
            if "://" in out:
                before, start = tree_cpu_seconds(server), time.perf_counter()
                build_docs([str(root / "inputs")], str(root / f"disk-{rep}"), cfg)
                disk_s.append(time.perf_counter() - start)
                disk_cpu.append(cpu_between(before, tree_cpu_seconds(server)))
            log.warning("rep %d: floor %.1f, pipeline %.1f pages/s (load average %.1f)", rep, pages / s,
                        pages / pipe_s[-1], load[-1])
    best = pipe_s.index(min(pipe_s))
    floor_s, pipe_s, floor_cpu, pipe_cpu = min(floor_s), min(pipe_s), min(floor_cpu), min(pipe_cpu)
    floor_rate, pipe_rate = pages / floor_s, pages / pipe_s
    print(f"pages: {pages} in {len(paths)} documents  samples: {summary.samples}  errors: {summary.errors}  out: {out}")
    print(f"tar bytes written: {summary.totals['bytes'] / 1e6:.1f} MB ({summary.totals['bytes'] / 1e6 / pages:.3f} MB per page;"
          " benchmarks/s3_write_path.py gives the upload's client CPU per MB)")
    print(f"bytes received by the driver: {summary.driver_bytes} ({summary.driver_bytes / max(1, summary.samples):.1f} per sample)")
    print(f"load average while measuring: {min(load):.1f} - {max(load):.1f} (2 free cores read ~0-1)")
    print(f"{'raw floor (render + JPEG, 1 process)':44s} {floor_rate:8.1f} pages/s")
    print(f"{f'pipeline (full, {args.num_cpus} CPUs, warm Ray)':44s} {pipe_rate:8.1f} pages/s")
    print_ratios("page", pages, (floor_s, floor_cpu), (pipe_s, pipe_cpu), args.num_cpus, 44)
    if disk_s:
        print(f"{'pipeline to local disk (same run, baseline)':44s} {pages / min(disk_s):8.1f} pages/s  "
              f"CPU {1000 * min(disk_cpu) / pages:.2f} ms/page: the store adds {1000 * (pipe_cpu - min(disk_cpu)) / pages:+.2f}")
    if s3:
        srv = server_cpu[best]
        print(f"{'S3 server (moto, own process) CPU ms/page':44s} {1000 * srv / pages:8.2f}  "
              f"= {srv / pipe_s:.2f} of a core during the build; not in the pipeline's CPU above")


if __name__ == "__main__":
    main()
