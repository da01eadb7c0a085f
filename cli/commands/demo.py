"""`mmcorpus demo`: the main job on the embedded corpus, with no network and no input of the user's."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_HELP = """\
Generate the embedded demo corpus (PDFs with real prose in one to three columns, headings, tables and
several fonts; scanned pages with no text layer, so OCR runs; short h264 videos, one rotated) and
build them exactly as a user's corpora would be built. Writes into --out:

  inputs/                 the generated documents and videos
  docs/                   the document corpus (shards/, stats/, errors/, manifest.json)
  videos/                 the video corpus: frames sampled, grouped into packages, temporal ids
  docs-contact-sheet.png  samples at each noise level with their corrupted regions outlined
  catalog.duckdb          DuckDB views over both corpora (mmcorpus stats query demo_out/catalog.duckdb "SQL")
  report.html             the statistics report with plots

Rerunning resumes; nothing is downloaded.
"""


def _demo(args: argparse.Namespace) -> int:
    from cli.args import report
    from pipelines.demo.documents import generate_demo_corpus
    from pipelines.demo.videos import write_demo_videos
    from pipelines.docs import DOCS
    from pipelines.videos import VIDEOS
    from stats.catalog import build_catalog
    from stats.contact_sheet import contact_sheet
    from stats.report import write_report

    out = Path(args.out)
    docs_in, videos_in = out / "inputs" / "docs", out / "inputs" / "videos"
    generate_demo_corpus(docs_in, seed=args.seed)
    write_demo_videos(videos_in)
    status = 0
    for pipeline, inputs in ((DOCS, docs_in), (VIDEOS, videos_in)):
        cfg = pipeline.config()
        cfg.run.num_cpus, cfg.run.seed, cfg.run.progress = args.num_cpus, args.seed, not args.no_progress
        status |= report(pipeline.build([str(inputs)], out / pipeline.name, cfg))
    contact_sheet(out / "docs", out / "docs-contact-sheet.png")
    corpora = [out / "docs", out / "videos"]
    db, _ = build_catalog(corpora, out / "catalog.duckdb")
    write_report(corpora, out / "report.html")
    log.info("done: %s; try: mmcorpus stats query %s \"SELECT corpus, task, count(*) FROM samples GROUP BY ALL\"", out, db)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    """Add `demo`."""
    p = sub.add_parser("demo", help="build the embedded demo corpus end to end", description=DEMO_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--num-cpus", type=int, help="CPUs for local Ray (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated documents and the samples")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_demo)
