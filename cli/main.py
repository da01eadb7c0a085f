"""`mmcorpus`: the command line. Each module in `cli/commands/` adds its own subcommands (`register`)."""
from __future__ import annotations

import argparse
import logging
import sys

from cli.commands import demo, docs, export, images, show, stats, train, videos
from cli.failures import describe_failure

DESCRIPTION = """\
mmcorpus builds MiniCPM-V 4.5 training corpora and trains on them.

  mmcorpus demo                          build the embedded demo corpus (documents, scans, videos)
  mmcorpus docs build PDF... --out DIR   document knowledge + text recognition samples
  mmcorpus images build IN... --out DIR  image-text corpora
  mmcorpus videos build IN... --out DIR  video corpora, frames grouped for the 3D-Resampler
  mmcorpus stats ...                     DuckDB catalog, queries and reports over built corpora
  mmcorpus show DIR KEY                  one sample, fetched by its byte range
  mmcorpus export DIR --format F --out O as MiniCPM-V finetune JSON or LLaVA JSON, media beside it
  mmcorpus train sft|rl|dpo --config F   SFT, hybrid RL and RLAIF-V DPO of MiniCPM-V 4.5 on built corpora

Every build writes DIR/shards/*.tar (WebDataset), DIR/stats/*.parquet (one row per sample),
DIR/errors/*.parquet (one row per quarantined, filtered or duplicate input) and DIR/manifest.json.
Rerunning a build into the same DIR resumes it. Run `mmcorpus COMMAND --help` for details.

Exit codes: 0 done; 2 a user error (bad input, setting, SQL or folder: the message says what to do);
130 interrupted (Ctrl-C: completed shards are kept, rerun the same command to resume); 1 an internal
error (rerun with --debug for the traceback and report it). Errors are one line; --debug adds the traceback.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every subcommand module registered."""
    parser = argparse.ArgumentParser(prog="mmcorpus", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="on an error, also print its full traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, docs, export, images, show, stats, train, videos):
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mmcorpus` console command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `mmcorpus ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except (Exception, KeyboardInterrupt) as e:
        code, message = describe_failure(e, args.command)
        logging.getLogger("mmcorpus").error("%s", message, exc_info=args.debug)
        return code


if __name__ == "__main__":
    sys.exit(main())
