"""Sampled frames/s of the full videos pipeline against the raw floor measured in the same run.

The floor is a single-process loop over the same videos: decord `VideoReader` (one decoder thread),
`get_batch` of exactly the frames the official policy samples, and a JPEG encode of each at the same
quality. The pipeline does everything a build does (rotation probe, time-limited child-process
decoding, samples, records, tars, stats) on local Ray with `--num-cpus` CPUs, timed on warm reruns
(Ray start-up excluded). Floor and pipeline runs alternate `--repeats` times and the best of each is
kept, so both see the same machine load. Prints both rates and their ratio.

    python benchmarks/video_throughput.py --videos 24 --num-cpus 2
    python benchmarks/video_throughput.py --fixture ../shared/fixtures/videos/flipping_a_pancake.mkv
"""
from __future__ import annotations

import argparse
import io
import logging
import shutil
import tempfile
import time
from pathlib import Path

import decord
from cpu_time import alternate_best, print_ratios  # beside this script
from PIL import Image

from model.video_sampling import official_sampling
from pipelines.demo.videos import write_video
from pipelines.engine.run_config import RunConfig
from pipelines.videos import VideosConfig, build_videos

log = logging.getLogger("video_throughput")


def make_inputs(root: Path, n: int, fixture: Path | None, seconds: int, width: int, height: int) -> list[Path]:
    """`n` videos with caption sidecars: copies of `fixture`, or of two generated clips."""
    src_dir = root / "src"
    if fixture is not None:
        sources = [fixture]
    else:
        sources = [write_video(src_dir / f"gen{i}.mp4", fps, seconds * fps, width, height)
                   for i, fps in enumerate((30, 25))]
    out = root / "inputs"
    out.mkdir()
    paths = []
    for c in range(n):
        src = sources[c % len(sources)]
        dst = out / f"{src.stem}-copy{c:03d}{src.suffix}"
        shutil.copy(src, dst)
        dst.with_suffix(".txt").write_text(f"clip {c}")
        paths.append(dst)
    return paths


def raw_floor(paths: list[Path], quality: int) -> tuple[int, float]:
    """decord get_batch of the officially sampled frames + JPEG encode, one process: (frames, seconds)."""
    start, frames = time.perf_counter(), 0
    for p in paths:
        vr = decord.VideoReader(str(p), num_threads=1)
        idx = official_sampling(len(vr), vr.get_avg_fps()).frame_indices
        for f in vr.get_batch(idx).asnumpy():
            Image.fromarray(f).save(io.BytesIO(), "JPEG", quality=quality)
            frames += 1
    return frames, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=192, help="number of input videos (fewer: start-up weighs more)")
    ap.add_argument("--fixture", type=Path, help="copy this video instead of generating two clips")
    ap.add_argument("--seconds", type=int, default=20, help="length of the generated clips")
    ap.add_argument("--size", default="640x360", help="size of the generated clips")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--task-cpus", type=float, help="CPUs per decode task (default: the config's)")
    ap.add_argument("--repeats", type=int, default=2, help="floor and pipeline runs, alternating; best of each")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, args.videos, args.fixture, args.seconds, width, height)
        cfg = VideosConfig(run=RunConfig(num_cpus=args.num_cpus, inputs_per_shard=8, progress=False))
        if args.task_cpus:
            cfg.resources.cpus = args.task_cpus
        build_videos([str(root / "inputs")], root / "corpus", cfg)  # warm-up: Ray, workers, decoder processes
        sampled: list[int] = []

        def floor_seconds() -> float:
            frames, seconds = raw_floor(paths, cfg.frames.jpeg_quality)
            sampled.append(frames)
            return seconds

        floor, pipe, summary = alternate_best(args.repeats, floor_seconds, lambda: shutil.rmtree(root / "corpus"),
                                              lambda: build_videos([str(root / "inputs")], root / "corpus", cfg))
    frames = sampled[-1]
    floor_rate, pipe_rate = frames / floor[0], frames / pipe[0]
    print(f"videos: {len(paths)}  sampled frames: {frames}  samples: {summary.samples}  errors: {summary.errors}")
    print(f"{'raw floor (decord get_batch + JPEG, 1 process)':50s} {floor_rate:8.1f} frames/s")
    print(f"{f'pipeline (full, {args.num_cpus} CPUs, warm Ray)':50s} {pipe_rate:8.1f} frames/s")
    print_ratios("frame", frames, floor, pipe, args.num_cpus, 50)


if __name__ == "__main__":
    main()
