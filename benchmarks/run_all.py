"""Run every benchmark and print one table of their ratio lines.

Each benchmark measures its own baseline in the same run and prints ratios; this runs them one after
another (quick sizes by default, `--full` for the sizes quoted in the README) and gathers every output
line that states a ratio or a target into one table. Full outputs go to `--log-dir`.

    python benchmarks/run_all.py            # quick
    python benchmarks/run_all.py --full     # the published sizes (tens of minutes on 2 CPUs)
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (script, quick arguments, full arguments)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("docs_throughput.py", ["--copies", "10", "--repeats", "1"], ["--copies", "30", "--repeats", "2"]),
    ("docs_scaling.py", ["--copies", "6"], ["--copies", "20"]),
    ("docs_memory.py", ["--docs", "5", "--pages-per-doc", "100"], ["--docs", "50", "--pages-per-doc", "200"]),
    ("image_throughput.py", ["--images", "40"], ["--images", "120"]),
    ("video_throughput.py", ["--videos", "24", "--repeats", "1"], ["--videos", "192", "--repeats", "2"]),
    ("stats_query.py", ["--rows", "200000"], []),
    ("bridge_throughput.py", ["--samples", "600", "--repeats", "1"], []),
    ("visual_tokens.py", [], []),
]
RATIO_LINE = re.compile(r"ratio|target|\d\.\d+x|x compression|peak", re.IGNORECASE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the published sizes instead of quick ones")
    ap.add_argument("--only", nargs="*", help="run only these scripts (e.g. docs_throughput.py)")
    ap.add_argument("--log-dir", type=Path, default=Path("benchmark_logs"))
    args = ap.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    table: list[tuple[str, str]] = []
    failed = 0
    for script, quick, full in BENCHMARKS:
        if args.only and script not in args.only:
            continue
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(HERE / script), *(full if args.full else quick)],
                              capture_output=True, text=True)
        (args.log_dir / f"{Path(script).stem}.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            failed += 1
            table.append((script, f"FAILED (exit {proc.returncode}); see {args.log_dir}/{Path(script).stem}.log"))
            continue
        lines = [ln.rstrip() for ln in proc.stdout.splitlines() if RATIO_LINE.search(ln)]
        table.append((f"{script} ({time.perf_counter() - start:.0f} s)", lines[0] if lines else "(no ratio printed)"))
        table.extend(("", ln) for ln in lines[1:])
    width = max(len(name) for name, _ in table) if table else 10
    for name, line in table:
        print(f"{name:<{width}}  {line.strip()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
