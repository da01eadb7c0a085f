"""`mmcorpus videos build`: video corpora, frames grouped into packages for the 3D-Resampler;
`mmcorpus videos convert`: a corpus of numbered frame members (the old layout) into one mp4 member per video."""
from __future__ import annotations

import argparse
import logging

from cli.args import register_build
from schemas.video_member import CONVERT_COMMAND

CONVERT_HELP = f"""\
{CONVERT_COMMAND}

Rewrite a video corpus built before videos were stored as one member ({{key}}.000.jpg, {{key}}.001.jpg,
...) into the current layout: each video's frames muxed unchanged into {{key}}.mp4 at the record's
frame_timestamps, every other member and sample copied; shards, sample order, stats columns and error
rows are kept (byte ranges and member names follow the new tars), the manifest gets the new shard
sizes. Nothing is decoded or re-encoded. OLD_CORPUS is only read; NEW_CORPUS must not hold a corpus.
"""

log = logging.getLogger(__name__)

VIDEOS_HELP = """\
Pack videos with their captions or question-answer pairs into MiniCPM-V 4.5 samples: {key}.mp4 (the
sampled frames, each the exact JPEG the pipeline chose, muxed without re-encoding into one MJPEG stream
and presented at their timestamps; or the original file with --set frames.store=original) and
{key}.json holding frame_indices, frame_timestamps (s), temporal_ids (one list per package: the
timestamp on the 0.1 s grid, divided by 0.1), fps and duration. One video member per sample is what
Hugging Face datasets (Video() column), webdataset, Ray Data, decord and ffprobe read.

Sampling policies (--set frames.sampling.policy=...):
  official  the released MiniCPM-V 4.5 example: choose_fps (3), at most 180 packages, packing up to 3,
            frames at the centres of equal bins (default)
  training  random rate (<= 10 fps) and packing (<= 6), at most 1080 frames; seeded by --seed

Each video is decoded with decord in a child process under a hard time limit (frames.timeout_s),
PyAV filling in what decord cannot decode; rotated videos come out upright. Damaged videos keep the
frames that decode when enough survive (frames.min_decoded_fraction), else they are quarantined.
"""


def _convert(args: argparse.Namespace) -> int:
    from corpus.video_convert import convert_corpus

    s = convert_corpus(args.old_corpus, args.new_corpus)
    log.info("%d shards, %d samples (%d videos re-muxed): %d → %d bytes", s.shards, s.samples, s.videos,
             s.bytes_before, s.bytes_after)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `videos build` and `videos convert`."""
    gsub = register_build(sub, "videos", "video", VIDEOS_HELP,
                          "video folders (with .txt/.json sidecars), manifests (.parquet/.jsonl/.csv), videos, globs",
                          "pipelines.videos:VIDEOS")
    c = gsub.add_parser("convert", help="rewrite a corpus of numbered frame members into one mp4 member per video",
                        description=CONVERT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("old_corpus", metavar="OLD_CORPUS", help="corpus folder or URL in the old layout (read only)")
    c.add_argument("new_corpus", metavar="NEW_CORPUS", help="folder or URL for the converted corpus (must hold none)")
    c.set_defaults(func=_convert)
