"""Arguments every build command shares, and how they override the YAML config."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING

from corpus.config import load_config
from corpus.errors import UserError

if TYPE_CHECKING:
    from pipelines.engine.pipeline import Pipeline
    from pipelines.engine.record import BuildSummary

log = logging.getLogger(__name__)

BUILD_EPILOG = """\
configuration:
  Defaults < --config FILE (YAML, same nesting as `--print-config`) < --set key.path=value < flags.
  Example: --set samples.noise.level_weights.masked=0.5 --set run.inputs_per_shard=16
  The seed of a build is run.seed (--seed); every operator uses it (another samples.seed is refused).

resume:
  Rerunning the same command into the same --out finishes an interrupted build: completed shards are
  skipped, partial ones are redone, keys and bytes come out the same. Changing the inputs or
  --inputs-per-shard of an existing corpus is refused.

object storage:
  --out s3://bucket/prefix (or gs://, az://, any fsspec URL) writes the corpus straight to the store:
  each shard's task uploads its tar, errors and stats; the driver writes only manifest.json and .lock.
  Credentials and endpoint come from the usual environment of every Ray process (AWS_ENDPOINT_URL,
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...) and from --storage-options '{"endpoint_url": ...}'
  (run.storage_options; secret-looking values are not recorded in the manifest).
  One build per --out at a time: a second is refused while .lock names a live build.
"""


def add_build_args(p: argparse.ArgumentParser, inputs_help: str) -> None:
    """Inputs, output folder, config file and overrides, Ray and run flags."""
    p.add_argument("inputs", nargs="*", metavar="INPUT", help=inputs_help)
    p.add_argument("--out", required=False,
                   help="corpus folder or object-store URL (s3://bucket/prefix) to create or resume "
                        "(required unless --print-config)")
    p.add_argument("--storage-options", metavar="JSON",
                   help='fsspec options for an object-store --out, e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\'')
    p.add_argument("--config", metavar="FILE", help="YAML config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value (repeatable)")
    p.add_argument("--address", help="Ray cluster address (e.g. ray://head:10001 or auto); default: the Ray "
                   "that `ray start` runs on this machine (saves its start-up), else a fresh local Ray; "
                   "'local': always fresh")
    p.add_argument("--num-cpus", type=int, help="CPUs for local Ray (default: all cores)")
    p.add_argument("--inputs-per-shard", type=int, help="inputs per shard (fixes shard boundaries)")
    p.add_argument("--seed", type=int, help="seed for every random choice (same seed, same samples)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-config", action="store_true", help="print the effective config as YAML and exit")


def add_dedup_against(build: argparse.ArgumentParser, noun: str, items: str) -> None:
    """`--dedup-against DIR` for a build whose config has `dedup.against`."""
    build.add_argument(
        "--dedup-against", action="append", default=[], metavar="DIR",
        help=f"another {noun} corpus (folder or URL, repeatable) whose {items} count as kept: {items} it already "
             "holds are dropped as duplicates (e.g. an evaluation set); same as --set dedup.against=[DIR, ...]")


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The flags as `run.*` overrides, applied after --set."""
    ov = list(args.overrides)
    for flag, key in (("address", "run.address"), ("num_cpus", "run.num_cpus"),
                      ("inputs_per_shard", "run.inputs_per_shard"), ("seed", "run.seed")):
        v = getattr(args, flag)
        if v is not None:
            ov.append(f"{key}={json.dumps(v)}")
    if args.storage_options:
        try:
            opts = json.loads(args.storage_options)
        except ValueError as e:
            raise UserError(f"--storage-options must be a JSON object ({e}): e.g. '{{\"endpoint_url\": \"http://host:9000\"}}'") from e
        if not isinstance(opts, dict):
            raise UserError("--storage-options must be a JSON object, e.g. '{\"endpoint_url\": \"http://host:9000\"}'")
        ov.append(f"run.storage_options={json.dumps(opts)}")
    if args.no_progress:
        ov.append("run.progress=false")
    if getattr(args, "dedup_against", None):  # docs and images builds
        ov.append(f"dedup.against={json.dumps(args.dedup_against)}")
    return ov


def report(summary: BuildSummary) -> int:
    """Log the outcome of a build; exit status 1 when an input was lost."""
    log.info(
        "%s: %d inputs (%d already done), %d samples and %d error rows written in %d shards, %.1f s -> %s",
        summary.pipeline, summary.inputs, summary.inputs_skipped, summary.samples, summary.errors,
        summary.shards_written, summary.seconds, summary.out_dir,
    )
    log.info("corpus totals: %s", summary.totals)
    if summary.lost_inputs:
        log.error("lost inputs (no sample, no error row): %s", summary.lost_inputs)
        return 1
    return 0


def dump_yaml(cfg: object) -> str:
    """A config as YAML text."""
    import yaml

    return yaml.safe_dump(asdict(cfg), sort_keys=False)


def register_build(sub: argparse._SubParsersAction, name: str, noun: str, description: str, inputs_help: str,
                   declaration: str) -> argparse._SubParsersAction:
    """Add `NAME build` for the `Pipeline` at `declaration` ("module:NAME"), imported when the command runs
    (so `--help` never loads Ray or the operators). Returns the group's subcommands, for commands to add more."""
    raw = argparse.RawDescriptionHelpFormatter
    group = sub.add_parser(name, help=f"{noun} corpora", description=description, formatter_class=raw)
    gsub = group.add_subparsers(dest=f"{name}_command", required=True, metavar="SUBCOMMAND")
    b = gsub.add_parser("build", help=f"build or resume a {noun} corpus", description=description,
                        epilog=BUILD_EPILOG, formatter_class=raw)
    add_build_args(b, inputs_help)
    b.set_defaults(func=partial(_run_build, declaration))
    return gsub


def _run_build(declaration: str, args: argparse.Namespace) -> int:
    module, attr = declaration.split(":")
    pipeline: Pipeline = getattr(importlib.import_module(module), attr)
    cfg = load_config(pipeline.config, args.config, run_overrides(args))
    if args.print_config:
        sys.stdout.write(dump_yaml(cfg))
        return 0
    if not args.out or not args.inputs:
        raise UserError(f"{pipeline.name} build needs INPUT... and --out DIR (see --help)")
    return report(pipeline.build(args.inputs, args.out, cfg))
