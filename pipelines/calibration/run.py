"""`mmcorpus docs calibrate`: measure (and refit) the noise levels for your own documents and DPI."""
from __future__ import annotations

import argparse
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
and the render DPI, and on who reads: one OCR engine can read text another cannot. So every crop is
read by two independent readers, RapidOCR (PP-OCRv4, the project's) and tesseract 5 (LSTM; `pip install
'mmcorpus[tesseract]'`; without it RapidOCR alone, said in one line), offline, and a level holds only
where both agree.

This command renders the inputs with the build's operators, sweeps every family's strength on
--regions text lines (then again 0.02 apart around each fitted edge), and picks per family: light up
to the strength where every reader's median CER stays <= 0.05 and >= 92% of the lines that read clean
still read with CER <= 0.2; medium where every reader's median CER lies as deep inside [0.30, 0.80]
as they can all be. It then builds samples with the fitted ranges exactly as `docs build` would (same
seed, same code) and prints both readers' median CER per level x family x granularity against the
bands: light <= 0.10, medium 0.30-0.80, masked >= 0.95. Exit status 1 when a band is missed (a group
of at least 5 regions, or a level x family over all regions), so a script can stop on it.

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
    p.add_argument("--second-reader", default="tesseract", choices=("tesseract", "none"),
                   help="the independent reader beside RapidOCR (default: tesseract, when installed)")
    p.add_argument("--table", metavar="PATH.parquet", help="write the per-region table here")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_calibrate)


def _corpus_inputs(corpus: Path) -> tuple[list[str], Any]:
    """The sources of a built docs corpus and its build config (a `DocsConfig`)."""
    import pyarrow.dataset as pads

    from corpus.config import from_dict
    from corpus.manifest import manifest_json
    from corpus.sink import STATS
    from pipelines.docs import DocsConfig

    manifest = manifest_json(corpus) or {}
    if manifest.get("pipeline") != "docs" or not manifest.get("runs"):
        raise UserError(f"{corpus} is not a built docs corpus (pipeline {manifest.get('pipeline')!r})")
    cfg = from_dict(DocsConfig, manifest["runs"][-1]["config"])
    stats = pads.dataset(corpus / STATS, format="parquet").to_table(columns=["source"]).column("source").to_pylist()
    return sorted({s for s in stats if s}), cfg


def run_calibrate(args: argparse.Namespace) -> int:
    """Sweep, fit, verify; write the table and the config the user asked for. 1 when a band is missed."""
    from corpus.config import load_config
    from operators.docs.legibility import calibration_readers
    from pipelines.calibration.fit import noise_yaml, sweep_and_fit
    from pipelines.calibration.measure import check_targets, corpus_pages, format_table, measure, summarise, write_table
    from pipelines.docs import DocsConfig

    corpus = Path(args.inputs[0]) if len(args.inputs) == 1 and (Path(args.inputs[0]) / MANIFEST).exists() else None
    if corpus:
        inputs, cfg = _corpus_inputs(corpus)
        if not inputs:
            raise UserError(f"{corpus} holds no samples to measure")
    else:
        inputs = args.inputs
        cfg = load_config(DocsConfig, args.config, args.overrides + [f"run.seed={args.seed}"])
    if args.dpi:
        cfg.pages.dpi = args.dpi
    grid = tuple(sorted(float(g) for g in args.grid.split(",")))
    readers, note = calibration_readers(None if args.second_reader == "none" else args.second_reader)
    if note:
        log.warning(note)
    pages = list(corpus_pages(inputs, cfg, args.pages_per_doc))
    if not pages:
        raise UserError(f"no page with text regions in {args.inputs}: nothing to calibrate")
    if not args.no_fit:
        s = cfg.samples
        cfg.samples.noise.strength, _ = sweep_and_fit(pages, s.noise, readers, args.regions, grid,
                                                      min_chars=s.min_region_chars, max_chars=s.max_region_chars,
                                                      jpeg_quality=s.jpeg_quality, seed=args.seed)
        log.info("fitted strength ranges: %s", cfg.samples.noise.strength)
    if not corpus:
        cfg.samples.corrupt_samples = args.samples_per_page
    table = measure(pages, cfg.samples, readers, args.verify_regions, args.seed)
    print(format_table(summarise(table)))
    checks = check_targets(table)
    missed = [text for text, ok in checks if not ok]
    for text in missed:
        print(f"[MISSED] {text}")
    print(f"{len(checks) - len(missed)} of {len(checks)} bands held ({', '.join(r.name for r in readers)})")
    out = args.table or (corpus / CALIBRATION_FILE if corpus and args.no_fit else None)
    if out:
        log.info("calibration table: %s", write_table(table, out))
    if args.write_config:
        Path(args.write_config).write_text(noise_yaml(cfg.samples.noise.strength, cfg.pages.dpi))
        log.info("config for `docs build --config`: %s", args.write_config)
    if missed:
        log.warning("%d bands missed: the noise levels do not mean what their names say on these documents; "
                    "refit them: mmcorpus docs calibrate %s --write-config noise.yaml (then build with "
                    "--config noise.yaml)", len(missed), " ".join(args.inputs))
        return 1
    return 0
