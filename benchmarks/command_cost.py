"""The whole `mmcorpus images build` command against img2dataset's whole command, on the same photos.

Both run as a user runs them, a fresh process each time (imports, Ray start, every pass), best of
`--repeats`. img2dataset lives in its own venv (its pins clash with ours), named by
`--img2dataset-python`:

    python3.11 -m venv /tmp/i2d && /tmp/i2d/bin/pip install img2dataset
    python benchmarks/command_cost.py --images 120 --num-cpus 2 --img2dataset-python /tmp/i2d/bin/python

mmcorpus runs twice: starting its own local Ray (`--address local`), and joining a Ray that
`ray start --head` runs on this machine (the default when there is one). Also prints where the fixed
cost goes: importing the command, a bare Ray start, and `run_build` as the summary times it.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from image_throughput import make_inputs  # beside this script

from pipelines.engine.local_cluster import LocalCluster

MMCORPUS = [sys.executable, "-m", "cli.main"]
BUILD_SECONDS = re.compile(r"in \d+ shards, ([0-9.]+) s ->")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of `cmd` and its stderr; raises when it fails."""
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return seconds, p.stderr


def mmcorpus_build(inputs: Path, out: Path, cpus: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(whole command seconds, build seconds from its summary line); with `env`, in a running Ray's."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*MMCORPUS, "images", "build", str(inputs), "--out", str(out), "--num-cpus", str(cpus), "--no-progress"]
    seconds, log = timed(cmd if env else [*cmd, "--address", "local"], env)
    if env and "joined the Ray instance" not in log:
        raise SystemExit("the command did not join the running Ray:\n" + log[-2000:])
    found = BUILD_SECONDS.search(log)
    return seconds, float(found.group(1)) if found else float("nan")


def img2dataset_build(python: str, paths: list[Path], root: Path, cpus: int) -> float:
    """Whole-command seconds of img2dataset on the same files (file:// URLs, webdataset out, same size cap)."""
    urls = root / "urls.txt"
    urls.write_text("".join(f"file://{p}\n" for p in paths))
    out = root / "img2dataset"
    shutil.rmtree(out, ignore_errors=True)
    exe = str(Path(python).with_name("img2dataset"))  # the console script beside that venv's python
    return timed([exe, "--url_list", str(urls), "--output_folder", str(out),
                  "--output_format", "webdataset", "--resize_mode", "keep_ratio", "--image_size", "1344",
                  "--processes_count", str(cpus), "--thread_count", "4", "--encode_quality", "95",
                  "--enable_wandb", "False"])[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=120)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--img2dataset-python", metavar="PYTHON", help="python of a venv with img2dataset installed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, args.images)
        imports = min(timed([sys.executable, "-c", "import cli.main, pipelines.images"])[0]
                      for _ in range(args.repeats))
        start_ray = f"import ray; ray.init(address='local', num_cpus={args.num_cpus}, include_dashboard=False)"
        ray_start = min(timed([sys.executable, "-c", start_ray])[0] for _ in range(args.repeats))
        whole, build = min(mmcorpus_build(root / "inputs", root / "corpus", args.num_cpus) for _ in range(args.repeats))
        with LocalCluster([args.num_cpus], root / "ray") as ray_here:  # `ray start --head` on this machine
            joined, joined_build = min(mmcorpus_build(root / "inputs", root / "corpus", args.num_cpus, ray_here.env)
                                       for _ in range(args.repeats))
        theirs = None
        if args.img2dataset_python:
            theirs = min(img2dataset_build(args.img2dataset_python, paths, root, args.num_cpus)
                         for _ in range(args.repeats))
    print(f"{args.images} photos, {args.num_cpus} CPUs, best of {args.repeats} fresh processes")
    print(f"  mmcorpus images build (whole command) {whole:7.2f} s")
    print(f"    same, joining a running `ray start`  {joined:7.2f} s (run_build {joined_build:.2f} s)")
    print(f"    python imports of the command       {imports:7.2f} s")
    print(f"    a bare local Ray start + stop       {ray_start:7.2f} s")
    print(f"    run_build: lock, dedup, Ray, shards {build:7.2f} s")
    if theirs is not None:
        print(f"  img2dataset (whole command)           {theirs:7.2f} s")
        print(f"  mmcorpus / img2dataset speed          {theirs / whole:7.2f}x (joining a running Ray: "
              f"{theirs / joined:.2f}x)")


if __name__ == "__main__":
    main()
