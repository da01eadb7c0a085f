"""The document knowledge + text recognition pipeline (MiniCPM-V 4.5, paper section 2.2.3).

PDFs and page images → render + text-layer regions → OCR for pages without a text layer → duplicate
pages dropped → region and page filters → page language (and an optional language filter) →
corrupted-region samples (OCR / reconstruct / infer-masked) and clean transcriptions → WebDataset
shards with stats and error tables. Declared once as `DOCS`.

With `ocr.pool.actors` > 0 the OCR runs on a pool of Ray actors (on GPUs with `ocr.pool.provider` cuda,
`pipelines.ocr_pool`), started once the build lock is held and stopped when the build ends; everything
else stays in the shard tasks, and only the pages that reach OCR cross the object store. A Ray Data
actor-pool stage for OCR was not taken: every page's pixels would make an Arrow round trip into and out of
it (the 3x slowdown the fused tasks removed), pages the gates skip included.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from corpus.config_types import POSITIVE, ConfigError, bounded
from corpus.inputs import InputItem, expand_inputs
from corpus.storage import Store
from operators.base import Chain, check_columns
from operators.docs.drop_pages import DropDuplicatePages, DropDuplicatePagesConfig
from operators.docs.file_kind import DOC_KINDS
from operators.docs.filters import RegionFilter, RegionFilterConfig
from operators.docs.language import LanguageConfig, PageLanguage
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.page_signature import PageDedupConfig
from operators.docs.pdf_pages import PdfPages, PdfPagesConfig
from operators.docs.samples import DocSamples, DocSamplesConfig
from operators.docs.split import SplitDocuments, SplitDocumentsConfig
from pipelines.calibration.before_build import CalibrateConfig, calibrated
from pipelines.dedup.pages import page_dedup
from pipelines.engine.pipeline import Pipeline
from pipelines.engine.ray_runtime import init_ray
from pipelines.engine.record import BuildSummary
from pipelines.engine.run_config import RunConfig
from pipelines.engine.steps import Step
from pipelines.ocr_pool.backend import PooledOcrBackend
from pipelines.ocr_pool.operator import PooledOcr, PooledOcrRegions
from pipelines.ocr_pool.pool import start_pool, stop_pools


@dataclass
class DocsResources:
    """CPUs per shard task (a fraction lets tasks share a core); a shard's documents are split into page
    ranges and rendered inside its task, so parallelism comes from shards in flight."""

    cpus_per_task: float = bounded(1.0, POSITIVE)


@dataclass
class DocsConfig:
    """Everything that shapes a docs build; recorded in the manifest of every run."""

    SEED: ClassVar[str] = "run.seed"  # the build's one seed: samples.seed follows it (`corpus.config.one_seed`)
    split: SplitDocumentsConfig = field(default_factory=SplitDocumentsConfig)
    pages: PdfPagesConfig = field(default_factory=PdfPagesConfig)
    ocr: OcrRegionsConfig = field(default_factory=OcrRegionsConfig)
    # exact and near-duplicate pages dropped (first in input order kept): `pipelines.dedup.pages`
    dedup: PageDedupConfig = field(default_factory=PageDedupConfig)
    filter: RegionFilterConfig = field(default_factory=RegionFilterConfig)
    # the language of pages and long regions by a model; `language.keep` keeps only those languages
    language: LanguageConfig = field(default_factory=LanguageConfig)
    samples: DocSamplesConfig = field(default_factory=DocSamplesConfig)
    # fit samples.noise.strength on the build's own pages before it starts (`calibrate.pages` > 0)
    calibrate: CalibrateConfig = field(default_factory=CalibrateConfig)
    resources: DocsResources = field(default_factory=DocsResources)
    run: RunConfig = field(default_factory=lambda: RunConfig(inputs_per_shard=16))


def docs_steps(cfg: DocsConfig, duplicates: DropDuplicatePagesConfig | None = None,
               ocr_pool: PooledOcrBackend | None = None) -> list[Step]:
    """Documents split into page ranges, then render → OCR → drop duplicates → filter → language →
    samples on Python rows, all inside the shard's task with pixels never re-encoded in between (one Ray
    Data stage per operator measured 3x slower: every page's pixels made an Arrow round trip per stage).
    `duplicates`: the pages to drop (`pipelines.dedup.pages`); `ocr_pool`: the backend of the OCR actors
    (`start_pool`), whose OCR then runs there."""
    # a group of pages sharing one text-layer verdict never straddles two page ranges (determinism)
    check = cfg.ocr.layer_check
    check = dataclasses.replace(check, pages_per_check=math.gcd(check.pages_per_check, max(1, cfg.split.pages_per_unit)))
    # the OCR gates skip only pages the page filter would drop: its threshold is theirs
    gate = dataclasses.replace(cfg.ocr.gate, min_page_chars=cfg.filter.min_page_chars)
    ocr = dataclasses.replace(cfg.ocr, layer_check=check, gate=gate)
    reader = (OcrRegions, ocr) if ocr_pool is None else (PooledOcrRegions, PooledOcr(ocr, ocr_pool))
    chain = ((SplitDocuments, cfg.split), (PdfPages, cfg.pages), reader,
             (DropDuplicatePages, duplicates or DropDuplicatePagesConfig()), (RegionFilter, cfg.filter),
             (PageLanguage, cfg.language), (DocSamples, cfg.samples))
    check_columns([op for op, _ in chain])  # a wrong order is refused here, before Ray starts
    return [Step(Chain, chain, num_cpus=cfg.resources.cpus_per_task)]


def _steps(cfg: DocsConfig, items: list[InputItem], store: Store) -> list[Step]:
    """The build's steps, with the pages the dedup pass found and the OCR pool (run under the build lock)."""
    run = cfg.run
    duplicates = page_dedup(items, store, run.prefix or DOCS.name, run.inputs_per_shard, cfg.dedup,
                            run.storage_options, run.address, run.num_cpus)
    pool = None
    if cfg.ocr.pool.actors:
        if cfg.ocr.backend != "rapidocr":
            raise ConfigError(f"ocr.pool.actors needs ocr.backend rapidocr, not {cfg.ocr.backend!r}")
        init_ray(run.address, run.num_cpus)
        pool = start_pool(cfg.ocr.pool, cfg.ocr.engine, cfg.resources.cpus_per_task, run.address in (None, "local"))
    return docs_steps(cfg, duplicates, pool)


def find_documents(inputs: list[str]) -> list[InputItem]:
    """PDFs and page images named by INPUT specs (files, folders, globs, @lists, URLs)."""
    return expand_inputs(inputs, DOC_KINDS)


class DocsPipeline(Pipeline[DocsConfig]):
    """The docs `Pipeline`, whose build stops the OCR actors it started (`ocr.pool`) however it ends."""

    def build(self, inputs: list[str], out_dir: str | Path, cfg: DocsConfig | None = None) -> BuildSummary:
        try:
            return super().build(inputs, out_dir, cfg)
        finally:
            stop_pools()


DOCS: Pipeline[DocsConfig] = DocsPipeline("docs", "PDF or page image", DocsConfig, find_documents, _steps,
                                      prepare=lambda cfg, items, out_dir: calibrated(items, out_dir, cfg))
build_docs = DOCS.build
