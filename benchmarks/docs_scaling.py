"""Scaling of the docs pipeline: pages/s at 1 and 2 CPUs of local Ray, and across two Ray nodes
(1 CPU each) on this machine. Each configuration runs in its own process (one Ray driver each) and
builds the inputs once to warm its Ray up before the timed build. `--local-s3` writes every corpus to
moto's S3 server on 127.0.0.1 (the shard tasks upload their shards; the driver writes the manifest).

    python benchmarks/docs_scaling.py --copies 20
    python benchmarks/docs_scaling.py --copies 20 --local-s3
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from operators.docs.page_signature import NO_DEDUP  # the inputs repeat pages on purpose
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.local_cluster import LocalCluster
from pipelines.engine.run_config import RunConfig

sys.path.insert(0, str(Path(__file__).parent))
from local_s3 import local_s3  # noqa: E402  (beside this script)


def make_inputs(root: Path, copies: int) -> tuple[Path, int]:
    """(inputs folder, pages): copies of the text-layer demo PDFs."""
    src = [p for p in generate_demo_corpus(root / "src") if p.suffix == ".pdf" and "scan" not in p.name]
    inputs = root / "inputs"
    inputs.mkdir()
    for c in range(copies):
        for p in src:
            shutil.copy(p, inputs / f"{p.stem}-{c:03d}.pdf")
    pages = copies * 16
    return inputs, pages


def timed_build(inputs: Path, out: str, run: RunConfig) -> float:
    """Seconds of a build on a warm Ray: the warm-up builds the same inputs once, so every worker
    process has started and imported its libraries before the clock starts."""
    build_docs([str(inputs)], f"{out}/warm", DocsConfig(dedup=NO_DEDUP, run=run))
    start = time.perf_counter()
    build_docs([str(inputs)], f"{out}/corpus", DocsConfig(dedup=NO_DEDUP, run=run))
    return time.perf_counter() - start


def measure(inputs: Path, out: str, cpus: int | None, address: str | None, env: dict | None) -> float:
    """Seconds of the timed build, run in a fresh process so each configuration has its own driver."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import docs_scaling as d; "
            "from pipelines.engine.run_config import RunConfig; "
            "r = RunConfig(num_cpus=int(sys.argv[4]) if sys.argv[4] != '-' else None, "
            "address=None if sys.argv[5] == '-' else sys.argv[5], inputs_per_shard=16, progress=False); "
            "print('SECONDS', d.timed_build(Path(sys.argv[2]), sys.argv[3], r))")
    proc = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(inputs), str(out),
                           str(cpus) if cpus else "-", address or "-"], capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SECONDS")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return float(lines[-1].split()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20, help="copies of the 8 demo PDFs (16 pages per copy)")
    ap.add_argument("--local-s3", action="store_true", help="write to moto's S3 server on 127.0.0.1 (s3://scaling)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, (local_s3("scaling") if args.local_s3 else contextlib.nullcontext()) as s3:
        root = Path(tmp)
        out = s3.url if s3 else str(root)
        inputs, pages = make_inputs(root, args.copies)
        for cpus in (1, 2):
            s = measure(inputs, f"{out}/local{cpus}", cpus, None, dict(os.environ))
            rows.append((f"local Ray, {cpus} CPU", pages / s))
        with LocalCluster([1, 1], root / "cluster") as cluster:  # its env holds the S3 endpoint
            s = measure(inputs, f"{out}/cluster-out", None, cluster.address, cluster.env)
            rows.append(("two Ray nodes, 1 CPU each", pages / s))
    base = rows[0][1]
    print(f"pages per build: {pages}; corpora written to {'the local S3 server' if args.local_s3 else 'local disk'}")
    print(f"{'configuration':32s} {'pages/s':>9s} {'ratio vs 1 CPU':>15s}")
    for name, rate in rows:
        print(f"{name:32s} {rate:9.1f} {rate / base:14.2f}x")


if __name__ == "__main__":
    main()
