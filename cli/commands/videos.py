"""`mmcorpus videos build`: video corpora, frames grouped into packages for the 3D-Resampler."""
from __future__ import annotations

import argparse
from typing import Callable

from cli.args import register_build

VIDEOS_HELP = """\
Pack videos with their captions or question-answer pairs into MiniCPM-V 4.5 samples: {key}.000.jpg,
{key}.001.jpg, ... (or the original file with --set frames.store=original) and {key}.json holding
frame_indices, frame_timestamps (s), temporal_ids (one list per package: the timestamp on the 0.1 s
grid, divided by 0.1), fps and duration.

Sampling policies (--set frames.sampling.policy=...):
  official  the released MiniCPM-V 4.5 example: choose_fps (3), at most 180 packages, packing up to 3,
            frames at the centres of equal bins (default)
  training  random rate (<= 10 fps) and packing (<= 6), at most 1080 frames; seeded by --seed

Each video is decoded with decord in a child process under a hard time limit (frames.timeout_s),
PyAV filling in what decord cannot decode; rotated videos come out upright. Damaged videos keep the
frames that decode when enough survive (frames.min_decoded_fraction), else they are quarantined.
"""


def _videos_build() -> tuple[type, Callable]:
    from pipelines.videos import VideosConfig, build_videos

    return VideosConfig, build_videos


def register(sub: argparse._SubParsersAction) -> None:
    """Add `videos build`."""
    register_build(sub, "videos", "video", VIDEOS_HELP,
                   "video folders (with .txt/.json sidecars), manifests (.parquet/.jsonl/.csv), videos, globs",
                   _videos_build)
