"""`mmcorpus docs calibrate`: measure (and refit) the noise levels for your own documents and DPI."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.manifest import MANIFEST

log = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.parquet"
GRID = "0,0.05,0.1,0.15,0.2,0.3,0.4,0.5,0.6,0.7,0.85,1"

CALIBRATE_HELP = """\
Measure how legible each noise level really is on YOUR documents, and refit the strength ranges.

The paper's levels (§2.2.3): light = text still legible (OCR), medium = glyphs ambiguous (visual cues +
context), masked = gone (context + knowledge). Whether a strength gives that depends on the documents
and the render DPI. This command renders the inputs with the build's operators, sweeps every family's
strength on --regions text regions, reads each crop back with RapidOCR (PP-OCRv4, offline) and picks
per family the ranges where: light median CER stays within 0.02 of the clean crop's and >= 92% of the
regions that read clean still read with CER <= 0.2; medium median CER crosses 0.4 .. 0.6. It then builds samples with the
fitted ranges exactly as `docs build` would (same seed, same code) and prints CER per level x family x
granularity with the targets (light within 0.05 of clean and >= 90% readable; medium median in
[0.3, 0.7] for every family; masked >= 0.95).

CER: NFKC, case-folded, whitespace removed on both sides; Levenshtein distance / reference length,
clipped to 1.

INPUT is PDFs, page images or folders, or one docs corpus folder: then its build config (from
manifest.json) and its sources are used; with --no-fit the samples measured are the corpus's own (same
seed, same keys) and the table goes to DIR/calibration.parquet, which the demo's contact sheet and
`mmcorpus stats report` show (CER per level).
"""

CALIBRATE_EPILOG = """\
examples:
  mmcorpus docs calibrate papers/ --dpi 200 --write-config noise-200dpi.yaml
  mmcorpus docs build papers/ --out corpus/docs --config noise-200dpi.yaml --set pages.dpi=200
  mmcorpus docs calibrate corpus/docs --no-fit        # measure a built corpus -> corpus/docs/calibration.parquet
"""


def add_calibrate(gsub: argparse._SubParsersAction) -> None:
    """Add `docs calibrate` to the `docs` command group."""
    p = gsub.add_parser("calibrate", help="measure and refit the noise levels with OCR", description=CALIBRATE_HELP,
                        epilog=CALIBRATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="PDFs, page images, folders, or one docs corpus folder")
    p.add_argument("--dpi", type=float, help="render DPI to calibrate for (pages.dpi; default: the config's)")
    p.add_argument("--config", metavar="FILE", help="docs build YAML config to start from")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value (repeatable)")
    p.add_argument("--write-config", metavar="OUT.yaml", help="write the fitted noise ranges (and the DPI) here")
    p.add_argument("--no-fit", action="store_true", help="only measure the config's ranges (no sweep)")
    p.add_argument("--regions", type=int, default=16, help="regions swept per fit (x 4 families x grid)")
    p.add_argument("--grid", default=GRID, help="strengths swept, comma-separated")
    p.add_argument("--verify-regions", type=int, default=200, help="corrupted regions measured after the fit")
    p.add_argument("--pages-per-doc", type=int, default=6, help="evenly spaced pages used per document")
    p.add_argument("--samples-per-page", type=int, default=3, help="corrupt samples per page when measuring")
    p.add_argument("--table", metavar="PATH.parquet", help="write the per-region table here")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_calibrate)


def _corpus_inputs(corpus: Path) -> tuple[list[str], Any]:
    """The sources of a built docs corpus and its build config (a `DocsConfig`)."""
    import pyarrow.dataset as pads

    from corpus.config import from_dict
    from corpus.sink import STATS
    from pipelines.docs import DocsConfig

    manifest = json.loads((corpus / MANIFEST).read_text())
    if manifest.get("pipeline") != "docs" or not manifest.get("runs"):
        raise UserError(f"{corpus} is not a built docs corpus (pipeline {manifest.get('pipeline')!r})")
    cfg = from_dict(DocsConfig, manifest["runs"][-1]["config"])
    cfg.samples.seed = cfg.run.seed
    stats = pads.dataset(corpus / STATS, format="parquet").to_table(columns=["source"]).column("source").to_pylist()
    return sorted({s for s in stats if s}), cfg


def run_calibrate(args: argparse.Namespace) -> int:
    """Sweep, fit, verify; write the table and the config the user asked for."""
    from corpus.config import load_config
    from operators.docs.legibility import RapidLineReader
    from pipelines.calibration.fit import fit, noise_yaml, sweep
    from pipelines.calibration.measure import check_targets, corpus_pages, format_table, measure, summarise, write_table
    from pipelines.docs import DocsConfig

    corpus = Path(args.inputs[0]) if len(args.inputs) == 1 and (Path(args.inputs[0]) / MANIFEST).exists() else None
    if corpus:
        inputs, cfg = _corpus_inputs(corpus)
        if not inputs:
            raise UserError(f"{corpus} holds no samples to measure")
    else:
        inputs = args.inputs
        cfg = load_config(DocsConfig, args.config, args.overrides + [f"samples.seed={args.seed}"])
    if args.dpi:
        cfg.pages.dpi = args.dpi
    grid = tuple(sorted(float(g) for g in args.grid.split(",")))
    reader = RapidLineReader()
    pages = list(corpus_pages(inputs, cfg, args.pages_per_doc))
    if not pages:
        raise UserError(f"no page with text regions in {args.inputs}: nothing to calibrate")
    if not args.no_fit:
        s = cfg.samples
        rows = sweep(pages, s.noise, reader, args.regions, grid, None, s.min_region_chars, s.max_region_chars,
                     s.jpeg_quality, args.seed)
        cfg.samples.noise.strength = fit(rows, s.noise)
        log.info("fitted strength ranges: %s", cfg.samples.noise.strength)
    if not corpus:
        cfg.samples.corrupt_samples = args.samples_per_page
    table = measure(pages, cfg.samples, reader, args.verify_regions, args.seed)
    print(format_table(summarise(table)))
    for text, ok in check_targets(table):
        print(f"[{'ok' if ok else 'MISSED'}] {text}")
    out = args.table or (corpus / CALIBRATION_FILE if corpus and args.no_fit else None)
    if out:
        log.info("calibration table: %s", write_table(table, out))
    if args.write_config:
        Path(args.write_config).write_text(noise_yaml(cfg.samples.noise.strength, cfg.pages.dpi))
        log.info("config for `docs build --config`: %s", args.write_config)
    return 0
