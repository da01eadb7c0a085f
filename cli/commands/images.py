"""`mmcorpus images build`: image-text corpora from manifests and folders."""
from __future__ import annotations

import argparse

from cli.args import add_dedup_against, register_build

IMAGES_HELP = """\
Pack images with their captions or conversations into MiniCPM-V 4.5 samples ({key}.jpg + {key}.json).

Inputs: folders of images with sidecar x.txt (caption) or x.json (caption / conversations / qa);
manifests in Parquet, JSONL or CSV with a path or fsspec URL column (path, image, url, ...) and a
caption or conversations column; single images, globs, @list files.

Every image is decoded and verified, turned upright (EXIF), refused above a pixel guard (decompression
bombs), resized to at most ~1.8 MP keeping its aspect ratio, re-encoded, and filtered by size and aspect.
Exact (sha256) and near (pHash) duplicates are decided globally in input-id order, the first kept; the
decision is written to DIR/dedup/duplicates.parquet and each dropped image to DIR/errors/ with the image
it repeats; --dedup-against drops the images another corpus (an evaluation set) already holds.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add `images build`."""
    gsub = register_build(sub, "images", "image", IMAGES_HELP,
                          "image folders (with .txt/.json sidecars), manifests (.parquet/.jsonl/.csv), images, globs",
                          "pipelines.images:IMAGES")
    add_dedup_against(gsub.choices["build"], "images", "images")
