"""`mmcorpus videos build`: video corpora, frames grouped into packages for the 3D-Resampler."""
from __future__ import annotations

import argparse
import sys

from pipelines.cli_args import BUILD_EPILOG, add_build_args, dump_yaml, report, run_overrides
from pipelines.config import load_config

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


def _build(args: argparse.Namespace) -> int:
    from pipelines.videos import VideosConfig, build_videos

    cfg = load_config(VideosConfig, args.config, run_overrides(args))
    if args.print_config:
        sys.stdout.write(dump_yaml(cfg))
        return 0
    if not args.out or not args.inputs:
        raise SystemExit("videos build needs INPUT... and --out DIR (see --help)")
    return report(build_videos(args.inputs, args.out, cfg))


def register(sub: argparse._SubParsersAction) -> None:
    """Add `videos build`."""
    videos = sub.add_parser("videos", help="video corpora", description=VIDEOS_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    vsub = videos.add_subparsers(dest="videos_command", required=True, metavar="SUBCOMMAND")
    b = vsub.add_parser("build", help="build or resume a video corpus", description=VIDEOS_HELP,
                        epilog=BUILD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_args(b, "video folders (with .txt/.json sidecars), manifests (.parquet/.jsonl/.csv), videos, globs")
    b.set_defaults(func=_build)
