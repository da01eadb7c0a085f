"""The docs build of a mixed real-world set, before and after, in the same run (issue 27).

Builds INPUT_DIR (assembled by `benchmarks/mixed_docs_set.py`) twice, each a `mmcorpus docs build`
process on a fresh local Ray with `--num-cpus` CPUs (`--address local`: never a Ray instance that
`ray start` left running here): with the code at `--baseline` (a checkout of an earlier commit, put
first on PYTHONPATH) and with this checkout (per-page seconds on: `ocr.record_seconds`). Prints the wall
seconds of each build and their ratio, the CPU seconds of each build's process tree (driver, Ray and its
workers; sampled from /proc every half second, so a process's last half second may be missed) and its
CPU utilisation (CPU seconds / (wall x CPUs)), each build's operator seconds (manifest), the pages that
yield samples in one build and not the other and the kept pages whose samples differ (task, text
length or path), the OCR skips by reason and the share of OCR seconds spent on pages then dropped.

    python benchmarks/mixed_docs_set.py /tmp/mixed
    python benchmarks/docs_ocr_build.py /tmp/mixed --baseline /work/main --num-cpus 2
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("docs_ocr_build")


def tree_cpu(proc: psutil.Process, seen: dict[int, float]) -> None:
    """Record in `seen` the CPU seconds (user + system) of `proc` and each of its live descendants."""
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            seen[p.pid] = t.user + t.system
        except psutil.Error:
            continue


def build(code: Path, inputs: Path, out: Path, num_cpus: int, sets: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of one `mmcorpus docs build` run with the code at `code`."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-m", "cli.main", "docs", "build", str(inputs), "--out", str(out), "--num-cpus",
           str(num_cpus), "--no-progress", "--address", "local"] + [a for s in sets for a in ("--set", s)]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=code, stdout=subprocess.DEVNULL)
    seen: dict[int, float] = {}
    proc = psutil.Process(child.pid)
    while child.poll() is None:
        tree_cpu(proc, seen)
        time.sleep(0.5)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return time.perf_counter() - start, sum(seen.values())


def table(corpus: Path, folder: str) -> list[dict]:
    """Rows of every Parquet file of `corpus/folder`."""
    return [r for p in sorted((corpus / folder).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def pages(corpus: Path) -> dict[tuple[str, int], tuple[str, tuple[tuple[str, int], ...]]]:
    """(input_id, page) -> (text_path, (task, text length) of each of its samples) of pages that yield
    samples. A corrupted-region sample's task and text follow its random draws (regions, noise level),
    which depend on how many regions the page has, so a page whose OCR lines changed gets another one."""
    out: dict[tuple[str, int], tuple[str, tuple[tuple[str, int], ...]]] = {}
    for r in table(corpus, "stats"):
        key = (r["input_id"], r["page_index"])
        path, samples = out.get(key, (r["text_path"], ()))
        out[key] = (path, tuple(sorted(samples + ((r["task"], r["text_len"] or 0),))))
    return out


def ocr_seconds(corpus: Path) -> dict[str, float]:
    """Manifest seconds of the OCR operator, last run."""
    stages = json.loads((corpus / "manifest.json").read_text())["runs"][-1]["stages"]
    return {s["operator"]: round(s["seconds"], 1) for s in stages}


def cost_share(corpus: Path) -> tuple[float, float, Counter]:
    """(OCR + layer-check seconds of pages kept, of pages dropped, OCR skips by reason)."""
    kept: dict[tuple[str, int], float] = {}
    for r in table(corpus, "stats"):
        kept[(r["input_id"], r["page_index"])] = (r.get("ocr_seconds") or 0) + (r.get("layer_check_seconds") or 0)
    errors = table(corpus, "errors")
    dropped = sum((r.get("ocr_seconds") or 0) + (r.get("layer_check_seconds") or 0) for r in errors)
    return sum(kept.values()), dropped, Counter(r.get("ocr_skip") for r in errors if r.get("ocr_skip"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", type=Path, help="the set, from benchmarks/mixed_docs_set.py")
    parser.add_argument("--baseline", type=Path, required=True, help="checkout of the code to compare against")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--out", type=Path, help="folder for both corpora (default: a temp folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="docs_ocr_build-"))
    before, before_cpu = build(args.baseline, args.inputs.resolve(), out / "before", args.num_cpus, [])
    after, after_cpu = build(ROOT, args.inputs.resolve(), out / "after", args.num_cpus, ["ocr.record_seconds=true"])
    log.info("wall seconds: before %.1f  after %.1f  speed-up %.2fx  (%d CPUs, load %.1f)", before, after,
             before / after, args.num_cpus, os.getloadavg()[0])
    log.info("CPU seconds: before %.1f  after %.1f  (utilisation of %d CPUs: before %.0f%%  after %.0f%%)",
             before_cpu, after_cpu, args.num_cpus, 100 * before_cpu / (before * args.num_cpus),
             100 * after_cpu / (after * args.num_cpus))
    log.info("operator seconds before: %s", ocr_seconds(out / "before"))
    log.info("operator seconds after:  %s", ocr_seconds(out / "after"))
    old, new = pages(out / "before"), pages(out / "after")
    log.info("pages with samples: before %d  after %d  (by path after: %s)", len(old), len(new),
             dict(Counter(p for p, _ in new.values())))
    for key in sorted(old.keys() - new.keys()):
        log.info("  only before: %s page %d %s", key[0], key[1], old[key])
    for key in sorted(new.keys() - old.keys()):
        log.info("  only after:  %s page %d %s", key[0], key[1], new[key])
    for key in sorted(old.keys() & new.keys()):
        if old[key] != new[key]:
            log.info("  differs:     %s page %d %s -> %s", key[0], key[1], old[key], new[key])
    kept, dropped, skips = cost_share(out / "after")
    log.info("OCR + layer-check seconds: pages kept %.1f, pages dropped %.1f (share dropped %.0f%%); skips %s",
             kept, dropped, 100 * dropped / max(kept + dropped, 1e-9), dict(skips))


if __name__ == "__main__":
    main()
