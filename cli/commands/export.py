"""`mmcorpus export CORPUS --format minicpmv|llava --out DIR`: a corpus as the official finetune JSON or LLaVA's."""
from __future__ import annotations

import argparse
import logging

from pipelines.export import FORMATS, export_corpus

log = logging.getLogger(__name__)

DESCRIPTION = """\
Write a built corpus as the JSON file other trainers read, with its media files beside it:

  minicpmv  the official MiniCPM-V finetune format: a list of {"id", "image", "conversations":
            [{"role", "content"}]}; "image" is a path, or {"<image_00>": path, ...} for several images
            or video frames (the markers in the text name them); video entries also record their frame
            policy (temporal_ids packages, frame_indices, frame_timestamps, fps) and "video" when the
            corpus kept the original file.
  llava     LLaVA's format: {"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]};
            several images or frames give a list of paths.

Output: DIR/{format}.json (a JSON array, written incrementally: memory stays bounded by one sample)
and DIR/media/{key[:2]}/{key}.{ext}. Samples that cannot be read are skipped and counted.
"""

EPILOG = """\
examples:
  mmcorpus export corpora/docs --format minicpmv --out exports/docs
      then: finetune with --data_path exports/docs/minicpmv.json
  mmcorpus export s3://bucket/videos --format llava --out exports/videos --relative
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand."""
    p = sub.add_parser("export", help="a corpus as MiniCPM-V finetune JSON or LLaVA JSON, media beside it",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", metavar="CORPUS", help="corpus folder (local path or fsspec URL)")
    p.add_argument("--format", required=True, choices=FORMATS, help="JSON layout to write")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the JSON file and media/")
    p.add_argument("--relative", action="store_true", help="media paths relative to DIR (default: absolute)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export; exit status 0 (skipped samples are logged with their reasons)."""
    summary = export_corpus(args.corpus, args.out, args.format, args.relative)
    log.info("exported %d samples (%d media files) to %s", summary.samples, summary.media_files, summary.json_path)
    if summary.skipped:
        log.warning("skipped %d unreadable samples: %s", sum(summary.skipped.values()), dict(summary.skipped))
    return 0
