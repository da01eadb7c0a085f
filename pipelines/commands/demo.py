"""`mmcorpus demo`: the main job on the embedded corpus, with no network and no input of the user's."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_HELP = """\
Generate the embedded demo corpus (PDFs with real prose in one to three columns, headings, tables and
several fonts; scanned pages with no text layer, so OCR runs) and build it exactly as a user's
corpus would be built. Writes into --out:

  inputs/                 the generated documents
  docs/                   the document corpus (shards/, stats/, errors/, manifest.json)
  docs-contact-sheet.png  samples at each noise level with their corrupted regions outlined

Rerunning resumes; nothing is downloaded.
"""


def _demo(args: argparse.Namespace) -> int:
    from pipelines.contact_sheet import contact_sheet
    from pipelines.demo_corpus import generate_demo_corpus
    from pipelines.docs import DocsConfig, build_docs
    from pipelines.cli_args import report

    out = Path(args.out)
    inputs = out / "inputs" / "docs"
    generate_demo_corpus(inputs, seed=args.seed)
    cfg = DocsConfig()
    cfg.run.num_cpus, cfg.run.seed, cfg.run.progress = args.num_cpus, args.seed, not args.no_progress
    status = report(build_docs([str(inputs)], out / "docs", cfg))
    contact_sheet(out / "docs", out / "docs-contact-sheet.png")
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
