"""Scaling of the docs pipeline: pages/s at 1 and 2 CPUs of local Ray, and across two Ray nodes
(1 CPU each) on this machine. Each configuration warms its Ray up on a small build first.

    python benchmarks/docs_scaling.py --copies 20
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import ray

from pipelines.build import RunConfig
from pipelines.demo_corpus import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.local_cluster import LocalCluster


def make_inputs(root: Path, copies: int) -> tuple[Path, Path, int]:
    """(inputs folder, warm-up folder, pages): copies of the text-layer demo PDFs."""
    src = [p for p in generate_demo_corpus(root / "src") if p.suffix == ".pdf" and "scan" not in p.name]
    inputs, warm = root / "inputs", root / "warm"
    inputs.mkdir()
    warm.mkdir()
    shutil.copy(src[0], warm / src[0].name)
    for c in range(copies):
        for p in src:
            shutil.copy(p, inputs / f"{p.stem}-{c:03d}.pdf")
    pages = copies * 16
    return inputs, warm, pages


def timed_build(inputs: Path, warm: Path, root: Path, run: RunConfig) -> float:
    """Seconds of a build on an already started Ray (the warm-up build starts it)."""
    ray.shutdown()
    build_docs([str(warm)], root / f"warm-{time.time_ns()}", DocsConfig(run=run))
    start = time.perf_counter()
    build_docs([str(inputs)], root / f"out-{time.time_ns()}", DocsConfig(run=run))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20, help="copies of the 8 demo PDFs (16 pages per copy)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs, warm, pages = make_inputs(root, args.copies)
        for cpus in (1, 2):
            s = timed_build(inputs, warm, root, RunConfig(num_cpus=cpus, inputs_per_shard=16, progress=False))
            rows.append((f"local Ray, {cpus} CPU", pages / s))
        with LocalCluster([1, 1], root / "cluster") as cluster:
            os.environ["RAY_AUTH_MODE"] = "disabled"
            s = timed_build(inputs, warm, root, RunConfig(address=cluster.address, inputs_per_shard=16, progress=False))
            rows.append(("two Ray nodes, 1 CPU each", pages / s))
            ray.shutdown()
    base = rows[0][1]
    print(f"pages per build: {pages}")
    print(f"{'configuration':32s} {'pages/s':>9s} {'ratio vs 1 CPU':>15s}")
    for name, rate in rows:
        print(f"{name:32s} {rate:9.1f} {rate / base:14.2f}x")


if __name__ == "__main__":
    main()
