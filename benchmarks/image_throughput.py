"""Images/s of the full images pipeline against a raw Pillow loop measured in the same run.

Inputs: distinct photo-like JPEGs in three sizes (1024x768, 2048x1536, 4032x3024 by default). The
floor is a single-process loop: Pillow open, decode, resize into the same ~1.8 MP budget, JPEG encode
at the same quality. The pipeline does everything a build does (signature pass and global dedup,
verify, EXIF, bomb guard, resize, re-encode, filters, samples, tars, stats) on local Ray with
`--num-cpus` CPUs, timed on warm reruns; floor and pipeline alternate `--repeats` times, best of each.
Also prints CPU seconds per image of each (independent of other load on the machine). The whole
command against img2dataset's whole command: `benchmarks/command_cost.py`.

    python benchmarks/image_throughput.py --images 120 --num-cpus 2
"""
from __future__ import annotations

import argparse
import io
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from cpu_time import alternate_best, print_ratios  # beside this script
from PIL import Image

from operators.images.ops import PIXEL_BUDGET
from operators.media_io import fit_within
from pipelines.engine.run_config import RunConfig
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


def measure(images: int, num_cpus: int, repeats: int) -> tuple[int, tuple, tuple, object]:
    """(images, floor (s, CPU s), pipeline (s, CPU s), the last build's summary) in one temp folder."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, images)
        cfg = ImagesConfig(run=RunConfig(num_cpus=num_cpus, inputs_per_shard=64, progress=False))
        build_images([str(root / "inputs")], root / "corpus", cfg)  # warm-up: Ray and its workers
        floor, pipe, summary = alternate_best(
            repeats, lambda: raw_floor(paths, cfg.decode.quality), lambda: shutil.rmtree(root / "corpus"),
            lambda: build_images([str(root / "inputs")], root / "corpus", cfg))
    return len(paths), floor, pipe, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=120, help="distinct photos, a third in each size")
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the pipeline's local Ray")
    ap.add_argument("--repeats", type=int, default=2, help="floor and pipeline runs, alternating; best of each")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n, floor, pipe, summary = measure(args.images, args.num_cpus, args.repeats)
    print(f"images: {n}  samples: {summary.samples}  errors: {summary.errors}")
    for name, (seconds, _) in (("raw floor (Pillow decode + resize + JPEG, 1 process)", floor),
                               (f"pipeline (full incl. dedup pass, {args.num_cpus} CPUs, warm Ray)", pipe)):
        print(f"{name:55s} {n / seconds:8.1f} images/s")
    print_ratios("image", n, floor, pipe, args.num_cpus, 55)


if __name__ == "__main__":
    main()
