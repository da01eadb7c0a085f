"""The document knowledge + text recognition pipeline (MiniCPM-V 4.5, paper section 2.2.3).

PDFs and page images → render + text-layer regions → OCR for pages without a text layer → region and
page filters → corrupted-region samples (OCR / reconstruct / infer-masked) and clean transcriptions →
WebDataset shards with stats and error tables.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from operators.base import Chain
from operators.doc_samples import DocSamples, DocSamplesConfig
from operators.doc_split import SplitDocuments, SplitDocumentsConfig
from operators.filters import RegionFilter, RegionFilterConfig
from operators.ocr import OcrRegions, OcrRegionsConfig
from operators.pdf_pages import PdfPages, PdfPagesConfig
from pipelines.build import BuildSummary, RunConfig, run_build
from pipelines.config import to_dict
from pipelines.errors import UserError
from pipelines.inputs import expand_inputs
from pipelines.ray_runtime import Stage

DOC_KINDS = {".pdf": "pdf", **{e: "image" for e in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")}}


@dataclass
class DocsResources:
    """CPUs per page-range task (a fraction lets tasks share a core) and for the split stage."""

    cpus_per_task: float = 1.0
    units_per_task: int = 8  # page ranges per render task (~0.6 s of work): fewer amortise Ray's per-task cost
    # 1.0, the default of Ray's re-cut of the split output: with equal requests Ray fuses the two
    # into one task (a lighter split stage made the re-cut a stage of its own: measured 1.05x vs 1.3x)
    split_cpus: float = 1.0
    docs_per_split_task: int = 16
    # local inputs up to this many documents are split into page ranges in the driver (~2 ms a PDF):
    # no split stage, so rendering starts at once and no task slot goes to splitting; more
    # documents, or any URL, are split by a Ray stage
    driver_split_max_docs: int = 5000


@dataclass
class DocsConfig:
    """Everything that shapes a docs build; recorded in the manifest of every run."""

    split: SplitDocumentsConfig = field(default_factory=SplitDocumentsConfig)
    pages: PdfPagesConfig = field(default_factory=PdfPagesConfig)
    ocr: OcrRegionsConfig = field(default_factory=OcrRegionsConfig)
    filter: RegionFilterConfig = field(default_factory=RegionFilterConfig)
    samples: DocSamplesConfig = field(default_factory=DocSamplesConfig)
    resources: DocsResources = field(default_factory=DocsResources)
    run: RunConfig = field(default_factory=lambda: RunConfig(inputs_per_shard=16))


def docs_stages(cfg: DocsConfig, split_in_driver: bool = False) -> list[Stage]:
    """Documents split into page ranges (by a Ray stage, or before Ray in the driver), then one
    fused stage per range: render → OCR → filter → samples on Python rows, pixels never re-encoded
    in between (one Ray Data stage per operator measured 3x slower: every page's pixels made an Arrow
    round trip per stage). The sample seed is the run seed."""
    r = cfg.resources
    samples = dataclasses.replace(cfg.samples, seed=cfg.run.seed)
    # a group of pages sharing one text-layer verdict never straddles two page ranges (determinism)
    check = cfg.ocr.layer_check
    check = dataclasses.replace(check, pages_per_check=math.gcd(check.pages_per_check, max(1, cfg.split.pages_per_unit)))
    ocr = dataclasses.replace(cfg.ocr, layer_check=check)
    chain = ((PdfPages, cfg.pages), (OcrRegions, ocr), (RegionFilter, cfg.filter), (DocSamples, samples))
    # at most units_per_task page ranges per block: a split task emits every range of its documents
    # in one block, and one task would render them all (measured: 8 tasks of 3-4 s for 1,600 pages)
    render = Stage(Chain, chain, num_cpus=r.cpus_per_task, batch_size=r.units_per_task, rows_per_block=r.units_per_task)
    if split_in_driver:
        return [render]
    return [Stage(Chain, ((SplitDocuments, cfg.split),), num_cpus=r.split_cpus, batch_size=r.docs_per_split_task), render]


def build_docs(inputs: list[str], out_dir: Path, cfg: DocsConfig | None = None) -> BuildSummary:
    """Build or resume a document corpus in `out_dir` from INPUT specs (files, folders, globs, @lists, URLs)."""
    cfg = cfg or DocsConfig()
    items = expand_inputs(inputs, DOC_KINDS)
    if not items:
        raise UserError(f"no PDFs or page images found in {inputs}")
    in_driver = len(items) <= cfg.resources.driver_split_max_docs and not any("://" in i.source for i in items)
    return run_build(pipeline="docs", inputs=items, stages=docs_stages(cfg, in_driver), out_dir=Path(out_dir),
                     run=cfg.run, config_record=to_dict(cfg),
                     prepare=Chain(((SplitDocuments, cfg.split),)) if in_driver else None)
