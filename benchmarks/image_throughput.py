"""Images/s of the full images pipeline against a raw Pillow loop measured in the same run.

Inputs: distinct photo-like JPEGs in three sizes (1024x768, 2048x1536, 4032x3024 by default). The
floor is a single-process loop: Pillow open, decode, resize into the same ~1.8 MP budget, JPEG encode
at the same quality. The pipeline does everything a build does (signature pass and global dedup,
verify, EXIF, bomb guard, resize, re-encode, filters, samples, tars, stats) on local Ray with
`--num-cpus` CPUs, timed on warm reruns; floor and pipeline alternate `--repeats` times, best of each.
Also prints CPU seconds per image of each (independent of other load on the machine) and, with
`--img2dataset`, the rate of img2dataset on the same files (file:// URLs) when it is importable.

    python benchmarks/image_throughput.py --images 120 --num-cpus 2
"""
from __future__ import annotations

import argparse
import io
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from cpu_time import cpu_between, print_ratios, tree_cpu_seconds  # beside this script
from PIL import Image

from operators.images.ops import PIXEL_BUDGET
from operators.media_io import fit_within
from pipelines.build import RunConfig
from pipelines.images import ImagesConfig, build_images

log = logging.getLogger("image_throughput")
SIZES = ((1024, 768), (2048, 1536), (4032, 3024))


def photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A distinct photo-like image: a smooth random colour field plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    arr = np.asarray(base, dtype=np.int16) + rng.normal(0, 6, (size[1], size[0], 3)).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_inputs(root: Path, n: int) -> list[Path]:
    """`n` distinct JPEGs cycling through `SIZES`, each with a caption sidecar."""
    out = root / "inputs"
    out.mkdir()
    paths = []
    for i in range(n):
        p = out / f"img{i:05d}.jpg"
        photo(i, SIZES[i % len(SIZES)]).save(p, quality=90)
        p.with_suffix(".txt").write_text(f"photo {i}")
        paths.append(p)
    return paths


def raw_floor(paths: list[Path], quality: int) -> float:
    """Decode, resize into the budget, encode, in one process: seconds."""
    start = time.perf_counter()
    for p in paths:
        img = Image.open(p).convert("RGB")
        size = fit_within(img.width, img.height, PIXEL_BUDGET)
        if size != img.size:
            img = img.resize(size, Image.Resampling.BICUBIC)
        img.save(io.BytesIO(), "JPEG", quality=quality)
    return time.perf_counter() - start


def img2dataset_seconds(paths: list[Path], root: Path, processes: int) -> float | None:
    """Seconds img2dataset takes on the same files, or None when it is not installed."""
    try:
        import img2dataset  # noqa: F401
    except ImportError:
        log.warning("img2dataset is not importable; skipping the side-by-side")
        return None
    urls = root / "urls.txt"
    urls.write_text("".join(f"file://{p}\n" for p in paths))
    out = root / "img2dataset"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "img2dataset", "--url_list", str(urls), "--output_folder", str(out),
                    "--output_format", "webdataset", "--resize_mode", "keep_ratio", "--image_size", "1344",
                    "--processes_count", str(processes), "--thread_count", "4", "--encode_quality", "95",
                    "--disable_all_reencoding", "False", "--enable_wandb", "False"], check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=120)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--img2dataset", action="store_true", help="also time img2dataset on the same files")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, args.images)
        cfg = ImagesConfig(run=RunConfig(num_cpus=args.num_cpus, inputs_per_shard=64, progress=False))
        build_images([str(root / "inputs")], root / "corpus", cfg)  # warm-up: Ray and its workers
        floor_s = pipe_s = floor_cpu = pipe_cpu = float("inf")
        for _ in range(args.repeats):
            before = tree_cpu_seconds()
            s = raw_floor(paths, cfg.decode.quality)
            floor_s, floor_cpu = min(floor_s, s), min(floor_cpu, cpu_between(before, tree_cpu_seconds()))
            shutil.rmtree(root / "corpus")
            before, start = tree_cpu_seconds(), time.perf_counter()
            summary = build_images([str(root / "inputs")], root / "corpus", cfg)
            pipe_s = min(pipe_s, time.perf_counter() - start)
            pipe_cpu = min(pipe_cpu, cpu_between(before, tree_cpu_seconds()))
        i2d_s = img2dataset_seconds(paths, root, args.num_cpus) if args.img2dataset else None
    n = len(paths)
    print(f"images: {n}  samples: {summary.samples}  errors: {summary.errors}")
    print(f"{'raw floor (Pillow decode + resize + JPEG, 1 process)':55s} {n / floor_s:8.1f} images/s")
    print(f"{f'pipeline (full incl. dedup pass, {args.num_cpus} CPUs, warm Ray)':55s} {n / pipe_s:8.1f} images/s")
    if i2d_s is not None:
        print(f"{f'img2dataset ({args.num_cpus} processes, file:// URLs)':55s} {n / i2d_s:8.1f} images/s")
    print_ratios("image", n, (floor_s, floor_cpu), (pipe_s, pipe_cpu), args.num_cpus, 55)


if __name__ == "__main__":
    main()
