"""Every demo input in one call, and the digests that say whether two machines generated the same bytes.

`write_demo_inputs(root)` writes `root/docs` (PDFs and scans, `pipelines.demo.documents`), `root/videos`
(h264 videos, `pipelines.demo.videos`) and `root/images` (`pipelines.demo.images`). Every generator is
meant to give the same bytes on any x86-64 machine, whatever its CPU model or count;
`tests/test_generated_inputs.py` checks the CPU count on every run, `benchmarks/cross_cpu_identity.py`
other CPU models under qemu.

    python -m pipelines.demo.inputs OUT_DIR     # writes the inputs, prints {kind: {file: sha256}} as JSON
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

from pipelines.demo.documents import generate_demo_corpus
from pipelines.demo.images import write_demo_images
from pipelines.demo.videos import X264_OPTIONS, write_demo_videos

log = logging.getLogger(__name__)

KINDS = ("docs", "videos", "images")
# what encodes each kind of generated file: named when a file's bytes differ
ENCODERS = {".pdf": "PyMuPDF (pymupdf)", ".png": "Pillow PNG, zlib (pillow)",
            ".jpg": "Pillow JPEG, libjpeg-turbo (pillow)", ".mp4": f"libx264 in PyAV (av), options {X264_OPTIONS}"}


def write_demo_inputs(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write the demo documents, videos and images under `root`; returns {kind: folder}."""
    folders = {kind: Path(root) / kind for kind in KINDS}
    generate_demo_corpus(folders["docs"], seed=seed)
    write_demo_videos(folders["videos"])
    write_demo_images(folders["images"])
    return folders


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 hex of every file under `folder`, by path relative to it (sorted)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def encoder_of(name: str) -> str:
    """The encoder (and the package that brings it) of a generated file, by its suffix; sidecars are our own text."""
    return ENCODERS.get(Path(name).suffix.lower(), "text written by our code")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder to write the inputs into (created)")
    args = p.parse_args()
    folders = write_demo_inputs(args.out)
    print(json.dumps({kind: file_digests(folder) for kind, folder in folders.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
