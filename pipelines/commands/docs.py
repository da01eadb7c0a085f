"""`mmcorpus docs build`: the document knowledge + text recognition corpus."""
from __future__ import annotations

import argparse
import sys

from pipelines.cli_args import BUILD_EPILOG, add_build_args, dump_yaml, report, run_overrides
from pipelines.config import load_config

DOCS_HELP = """\
Render every page of the input PDFs (and page images), find its text regions (PDF text layer; OCR for
pages without one), corrupt a few regions at a random noise level and ask for their original text:

  light noise  -> task "ocr"           (read the text)
  medium noise -> task "reconstruct"   (visual cues + context)
  masked       -> task "infer_masked"  (knowledge + context)

plus one clean full-page transcription per page. Encrypted, broken, empty or oversized documents and
pages that fail to render are written to DIR/errors/ with stage and reason; the run goes on.
"""


def _build(args: argparse.Namespace) -> int:
    from pipelines.docs import DocsConfig, build_docs

    cfg = load_config(DocsConfig, args.config, run_overrides(args))
    if args.print_config:
        sys.stdout.write(dump_yaml(cfg))
        return 0
    if not args.out or not args.inputs:
        raise SystemExit("docs build needs INPUT... and --out DIR (see --help)")
    return report(build_docs(args.inputs, args.out, cfg))


def register(sub: argparse._SubParsersAction) -> None:
    """Add `docs build`."""
    docs = sub.add_parser("docs", help="document knowledge + text recognition corpora", description=DOCS_HELP,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = docs.add_subparsers(dest="docs_command", required=True, metavar="SUBCOMMAND")
    b = dsub.add_parser("build", help="build or resume a document corpus", description=DOCS_HELP,
                        epilog=BUILD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_args(b, "PDF files, page images, folders, globs ('docs/**/*.pdf'), @list files or fsspec URLs")
    b.set_defaults(func=_build)
