"""Bytes that reach the driver per sample, for a docs and a videos build written to object storage.

The shard tasks upload their shards themselves; the driver receives one summary row per shard. The
figure is the sum of the Arrow sizes of the result blocks the driver iterates (`BuildSummary.
driver_bytes`), per sample, next to the tar bytes per sample, which is what a driver-side sink
receives. Builds run on local Ray and write to moto's S3 server on 127.0.0.1 (`--out` for another).

    python benchmarks/driver_bytes.py --copies 4 --videos 8
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import tempfile
from pathlib import Path

from local_s3 import local_s3  # beside this script

from operators.docs.page_signature import NO_DEDUP  # the inputs are copies on purpose
from pipelines.demo.documents import generate_demo_corpus
from pipelines.demo.videos import write_demo_videos
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.record import BuildSummary
from pipelines.engine.run_config import RunConfig
from pipelines.videos import VideosConfig, build_videos


def _row(name: str, s: BuildSummary) -> str:
    per = s.driver_bytes / max(1, s.samples)
    tar = s.totals["bytes"] / max(1, s.samples)
    return f"{name:8s} {s.samples:8d} {s.shards_written:7d} {per:14.1f} {tar:16.0f} {tar / max(per, 1e-9):10.0f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=4, help="copies of the demo PDFs")
    ap.add_argument("--videos", type=int, default=8, help="copies of the demo videos")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--out", help="folder or URL to write to (default: s3://driver-bytes on a local moto server)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, (contextlib.nullcontext(args.out) if args.out else local_s3("driver-bytes")) as out:
        out = out if isinstance(out, str) else out.url
        root = Path(tmp)
        docs_in, vids_in = root / "docs", root / "videos"
        docs_in.mkdir()
        pdfs = [p for p in generate_demo_corpus(root / "src") if p.suffix == ".pdf"]
        for c in range(args.copies):
            for p in pdfs:
                shutil.copy(p, docs_in / f"{p.stem}-{c}.pdf")
        demo = write_demo_videos(root / "vsrc")
        vids_in.mkdir()
        for c in range(max(1, args.videos // max(1, len(demo)))):
            for p in demo:
                for side in p.parent.glob(p.stem + ".*"):
                    shutil.copy(side, vids_in / f"{p.stem}-{c}{side.suffix}")
        run = dict(num_cpus=args.num_cpus, progress=False)
        docs = build_docs([str(docs_in)], f"{out}/docs", DocsConfig(dedup=NO_DEDUP, run=RunConfig(inputs_per_shard=8, **run)))
        vids = build_videos([str(vids_in)], f"{out}/videos", VideosConfig(run=RunConfig(inputs_per_shard=4, **run)))
    print(f"corpora written to {args.out or 'a local moto S3 server'}")
    print(f"{'pipeline':8s} {'samples':>8s} {'shards':>7s} {'driver B/sample':>14s} {'tar B/sample':>16s} {'ratio':>11s}")
    print(_row("docs", docs))
    print(_row("videos", vids))


if __name__ == "__main__":
    main()
