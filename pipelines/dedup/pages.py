"""Page deduplication of a docs build: signatures per shard, a decision on Ray, pages dropped in the build.

Three steps, run once the build lock is held (`pipelines.docs.build_docs`), before the shards are built;
the machinery is the one images use too (`pipelines.dedup.signatures`, `pipelines.dedup.decision`):

1. signatures: one Ray task per shard of the build's plan reads its PDFs' text layers
   (`operators.docs.page_signature.PageSignatures`, no render) and writes
   `DIR/dedup/pages/{prefix}-{shard:06d}.parquet`; a shard whose file was made with the same knobs from the
   same inputs is not read again (resume, rebuild). The files stay beside the shards: `--dedup-against
   DIR` reads another corpus's.
2. decision: bucket tasks keyed by a partition of the band values (the exact hash counting as one more
   band) link each page to the first page sharing a band value; verify tasks measure the links on the
   MinHashes (`operators.dedup`). The driver receives only links and keys of linked pages, never the
   signatures, and joins the verified links into groups (`operators.docs.dedup_decision.resolve`): the
   first page in input order is kept (input id, then page index; another corpus's pages come before this
   corpus's), every other page is a duplicate of it. The decision is written to
   `DIR/dedup/page_duplicates.parquet`.
3. the build drops them (`operators.docs.drop_pages.DropDuplicatePages`): each an error row with
   category `duplicate`, so samples + error rows still account for every page.
"""
from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import pyarrow as pa

from corpus.inputs import InputItem
from corpus.sink import parquet_bytes
from corpus.storage import Store
from operators.base import is_error
from operators.dedup.buckets import Banding
from operators.dedup.verify import JACCARD
from operators.docs.dedup_decision import PageDuplicate, resolve
from operators.docs.drop_pages import DropDuplicatePagesConfig
from operators.docs.page_signature import PageDedupConfig, PageSignatures
from pipelines.dedup import signatures as dedup_signatures
from pipelines.dedup.decision import measured_links
from pipelines.dedup.signatures import SignatureFile, against_files, signature_pass
from pipelines.engine.ray_runtime import init_ray
from schemas.tables import PAGE_DUPLICATE_SCHEMA, PAGE_SIGNATURE_SCHEMA

log = logging.getLogger(__name__)

SIGNATURES = "dedup/pages"
DUPLICATES = "dedup/page_duplicates.parquet"


def write_signatures(store: Store, rel: str, rows: list[dict], cfg: PageDedupConfig) -> int:
    """Write page signature rows (`PAGE_SIGNATURE_SCHEMA`, made with `cfg`) as the file `rel`; returns their number."""
    return dedup_signatures.write_signatures(store, rel, rows, PAGE_SIGNATURE_SCHEMA, cfg.knobs())


def signature_rows(cfg: PageDedupConfig, rows: list[dict]) -> list[dict]:
    """The page signature rows of some input rows (pages without enough text have none)."""
    return [r for r in PageSignatures(cfg).run_rows(rows) if not is_error(r)]


def decide(files: list[SignatureFile], own_from: int, cfg: PageDedupConfig) -> list[PageDuplicate]:
    """Step 2 over `files` (the first `own_from` of another corpus: kept, never dropped)."""
    banding = Banding(exact=cfg.exact, bands=cfg.bands if cfg.near else 0)
    links = measured_links(files, own_from, cfg.knobs(), banding, JACCARD, cfg.values_per_task)
    dups = resolve(links, cfg.threshold, own_from, cfg.exact, cfg.near)
    log.info("page dedup: %d duplicates (%d exact)", len(dups), sum(d.kind == "exact" for d in dups))
    return dups


def duplicates_table(dups: list[PageDuplicate]) -> pa.Table:
    """The decision as rows of `PAGE_DUPLICATE_SCHEMA`."""
    return pa.Table.from_pylist([dict(input_id=d.key[0], page_index=d.key[1], kind=d.kind, kept_input_id=d.kept[0],
                                      kept_page=d.kept[1], similarity=d.similarity, reason=d.reason) for d in dups],
                                schema=PAGE_DUPLICATE_SCHEMA)


def page_dedup(items: list[InputItem], out_dir: "Store | str | Path", prefix: str, inputs_per_shard: int,
               cfg: PageDedupConfig, storage_options: dict, address: str | None = None,
               num_cpus: int | None = None) -> DropDuplicatePagesConfig:
    """Steps 1 and 2 for a build of `items` at `out_dir`; the decision as the drop operator's config."""
    if not (cfg.exact or cfg.near):
        return DropDuplicatePagesConfig()
    init_ray(address, num_cpus)
    start = time.perf_counter()
    store = Store.of(out_dir, storage_options)
    against = against_files(cfg.against, SIGNATURES, storage_options)
    files = against + signature_pass(items, store, SIGNATURES, prefix, inputs_per_shard,
                                     functools.partial(signature_rows, cfg), PAGE_SIGNATURE_SCHEMA, cfg.knobs())
    signed = time.perf_counter()
    dups = decide(files, len(against), cfg)
    log.info("page dedup: %.1f s for signatures, %.1f s for the decision", signed - start, time.perf_counter() - signed)
    store.put(DUPLICATES, parquet_bytes(duplicates_table(dups)))
    pages: dict[str, dict[int, tuple[str, str]]] = {}
    for d in dups:
        pages.setdefault(d.key[0], {})[d.key[1]] = (d.error_type, d.reason)
    return DropDuplicatePagesConfig(pages)
