"""`mmcorpus images build`: image-text corpora from manifests and folders."""
from __future__ import annotations

import argparse
import sys

from pipelines.cli_args import BUILD_EPILOG, add_build_args, dump_yaml, report, run_overrides
from pipelines.config import load_config

IMAGES_HELP = """\
Pack images with their captions or conversations into MiniCPM-V 4.5 samples ({key}.jpg + {key}.json).

Inputs: folders of images with sidecar x.txt (caption) or x.json (caption / conversations / qa);
manifests in Parquet, JSONL or CSV with a path or fsspec URL column (path, image, url, ...) and a
caption or conversations column; single images, globs, @list files.

Every image is decoded and verified, turned upright (EXIF), refused above a pixel guard (decompression
bombs), resized to at most ~1.8 MP keeping its aspect ratio, re-encoded, and filtered by size and aspect.
Exact (sha256) and near (pHash) duplicates are decided globally in input-id order, the first kept; the
decision is written to DIR/dedup/duplicates.parquet and each dropped image to DIR/errors/ with its reason.
"""


def _build(args: argparse.Namespace) -> int:
    from pipelines.images import ImagesConfig, build_images

    cfg = load_config(ImagesConfig, args.config, run_overrides(args))
    if args.print_config:
        sys.stdout.write(dump_yaml(cfg))
        return 0
    if not args.out or not args.inputs:
        raise SystemExit("images build needs INPUT... and --out DIR (see --help)")
    return report(build_images(args.inputs, args.out, cfg))


def register(sub: argparse._SubParsersAction) -> None:
    """Add `images build`."""
    images = sub.add_parser("images", help="image-text corpora", description=IMAGES_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    isub = images.add_subparsers(dest="images_command", required=True, metavar="SUBCOMMAND")
    b = isub.add_parser("build", help="build or resume an image corpus", description=IMAGES_HELP,
                        epilog=BUILD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_args(b, "image folders (with .txt/.json sidecars), manifests (.parquet/.jsonl/.csv), images, globs")
    b.set_defaults(func=_build)
