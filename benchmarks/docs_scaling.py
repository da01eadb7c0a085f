"""Scaling of the docs pipeline: pages/s at 1 and 2 CPUs of local Ray, and across two Ray nodes
(1 CPU each) on this machine. Each configuration runs in its own process (one Ray driver each) and
builds the inputs once to warm its Ray up before the timed build.

    python benchmarks/docs_scaling.py --copies 20
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.build import RunConfig
from pipelines.demo_corpus import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.local_cluster import LocalCluster


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


def timed_build(inputs: Path, out: Path, run: RunConfig) -> float:
    """Seconds of a build on a warm Ray: the warm-up builds the same inputs once, so every worker
    process has started and imported its libraries before the clock starts."""
    build_docs([str(inputs)], out / "warm", DocsConfig(run=run))
    start = time.perf_counter()
    build_docs([str(inputs)], out / "corpus", DocsConfig(run=run))
    return time.perf_counter() - start


def measure(inputs: Path, out: Path, cpus: int | None, address: str | None, env: dict | None) -> float:
    """Seconds of the timed build, run in a fresh process so each configuration has its own driver."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import docs_scaling as d; "
            "from pipelines.build import RunConfig; "
            "r = RunConfig(num_cpus=int(sys.argv[4]) if sys.argv[4] != '-' else None, "
            "address=None if sys.argv[5] == '-' else sys.argv[5], inputs_per_shard=16, progress=False); "
            "print('SECONDS', d.timed_build(Path(sys.argv[2]), Path(sys.argv[3]), r))")
    proc = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(inputs), str(out),
                           str(cpus) if cpus else "-", address or "-"], capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("SECONDS")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"build failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return float(lines[-1].split()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20, help="copies of the 8 demo PDFs (16 pages per copy)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        inputs, pages = make_inputs(root, args.copies)
        for cpus in (1, 2):
            s = measure(inputs, root / f"local{cpus}", cpus, None, None)
            rows.append((f"local Ray, {cpus} CPU", pages / s))
        with LocalCluster([1, 1], root / "cluster") as cluster:
            s = measure(inputs, root / "cluster-out", None, cluster.address, cluster.env)
            rows.append(("two Ray nodes, 1 CPU each", pages / s))
    base = rows[0][1]
    print(f"pages per build: {pages}")
    print(f"{'configuration':32s} {'pages/s':>9s} {'ratio vs 1 CPU':>15s}")
    for name, rate in rows:
        print(f"{name:32s} {rate:9.1f} {rate / base:14.2f}x")


if __name__ == "__main__":
    main()
