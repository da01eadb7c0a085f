"""Page deduplication of a docs build: signatures per shard, a decision on Ray, pages dropped in the build.

Three steps, run once the build lock is held (`pipelines.docs.build_docs`), before the shards are built:

1. signatures: one Ray task per shard of the build's plan (the same shards, `pipelines.engine.plan`)
   reads its PDFs' text layers (`operators.docs.page_signature.PageSignatures`, no render) and writes
   `DIR/dedup/pages/{prefix}-{shard:06d}.parquet`; a shard whose file exists is not read again (resume,
   rebuild). The files stay beside the shards: `--dedup-against DIR` reads another corpus's.
2. decision (`operators.docs.dedup_decision`): Ray tasks keyed by a partition of the band values (the
   exact hash counting as one more band; as many partitions as keep a task under `values_per_task`)
   group the pages that share a band value and link each to the group's first page; then one task per shard with candidate edges verifies them on the MinHashes.
   The driver receives only candidate edges and keys of linked pages, never the signatures, and joins
   the verified edges into groups: the first page in input order is kept (input id, then page index;
   another corpus's pages come before this corpus's), every other page is a duplicate of it. The
   decision is written to `DIR/dedup/page_duplicates.parquet`.
3. the build drops them (`operators.docs.drop_pages.DropDuplicatePages`): each an error row with
   category `duplicate`, so samples + error rows still account for every page.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.sink import parquet_bytes, shard_name
from corpus.storage import Store
from operators.base import is_error
from operators.docs.dedup_decision import Edge, PageDuplicate, bucket_edges, resolve, verify_edges
from operators.docs.drop_pages import DropDuplicatePagesConfig
from operators.docs.page_signature import PageDedupConfig, PageSignatures
from pipelines.engine.plan import plan_shards
from pipelines.engine.ray_runtime import init_ray
from schemas.tables import PAGE_DUPLICATE_SCHEMA, PAGE_SIGNATURE_SCHEMA

log = logging.getLogger(__name__)

SIGNATURES = "dedup/pages"
DUPLICATES = "dedup/page_duplicates.parquet"

KNOBS = "mmcorpus.signature"  # schema metadata key: `PageDedupConfig.knobs()` of the file's signatures
SignatureFile = tuple[Store, str]  # (corpus store, path below it)


def read_signatures(file: SignatureFile, columns: list[str]) -> pa.Table:
    """`columns` of one signature file (only those columns are read from a local file)."""
    store, rel = file
    if store.local:
        return pq.read_table(store.path(rel), columns=columns)
    return pq.read_table(pa.BufferReader(store.read(rel)), columns=columns)


def write_signatures(store: Store, rel: str, rows: list[dict], cfg: PageDedupConfig) -> int:
    """Write signature rows (`PAGE_SIGNATURE_SCHEMA`, made with `cfg`) as the file `rel`; returns their number."""
    schema = PAGE_SIGNATURE_SCHEMA.with_metadata({KNOBS: cfg.knobs()})
    table = pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema)
    store.put(rel, parquet_bytes(table))
    return table.num_rows


def sign_shard(store: Store, rel: str, rows: list[dict], cfg: PageDedupConfig) -> int:
    """Write the signature file `rel` of one shard's input rows; returns its pages with a signature."""
    return write_signatures(store, rel, [r for r in PageSignatures(cfg).run_rows(rows) if not is_error(r)], cfg)


def signature_pass(items: list[InputItem], store: Store, prefix: str, inputs_per_shard: int,
                   cfg: PageDedupConfig) -> list[SignatureFile]:
    """Step 1: the signature file of every shard of the plan, written where missing; in shard order."""
    import ray

    plan = plan_shards(items, inputs_per_shard, prefix)
    n_shards = math.ceil(len(plan.inputs) / inputs_per_shard)
    files = [(store, f"{SIGNATURES}/{shard_name(prefix, sid)}.parquet") for sid in range(n_shards)]
    have = set(store.names(SIGNATURES))
    old = [sid for sid, f in enumerate(files) if f[1].rsplit("/", 1)[1] in have]
    facts = ray.get([ray.remote(file_facts).remote(files[sid]) for sid in old])  # footers, read by tasks
    reuse = {sid for sid, (_, knobs) in zip(old, facts) if knobs == cfg.knobs()}
    todo = [sid for sid in range(n_shards) if sid not in reuse]  # missing, or made with other knobs
    task = ray.remote(sign_shard)
    refs = []
    for sid in todo:
        lo = sid * inputs_per_shard
        rows = [it.row(sid, lo + i) for i, it in enumerate(plan.inputs[lo:lo + inputs_per_shard])]
        refs.append(task.remote(store, files[sid][1], rows, cfg))
    pages = sum(ray.get(refs))
    log.info("page dedup: signatures of %d shards written (%d pages), %d reused", len(todo), pages, n_shards - len(todo))
    return files


def against_files(dirs: Sequence[str], storage_options: dict) -> list[SignatureFile]:
    """The signature files of other corpora (`--dedup-against`); UserError when one has none."""
    files: list[SignatureFile] = []
    for d in dirs:
        other = Store.of(d, storage_options)
        names = [n for n in other.names(SIGNATURES) if n.endswith(".parquet")]
        if not names:
            raise UserError(f"--dedup-against {d}: no page signatures ({SIGNATURES}/); build it with this version first")
        files += [(other, f"{SIGNATURES}/{n}") for n in names]
    return files


def file_facts(file: SignatureFile) -> tuple[int, str]:
    """(pages, knobs) of one signature file, from its footer."""
    store, rel = file
    meta = pq.ParquetFile(store.path(rel) if store.local else pa.BufferReader(store.read(rel))).metadata
    return meta.num_rows, (meta.schema.to_arrow_schema().metadata or {}).get(KNOBS.encode(), b"").decode()


def decide(files: list[SignatureFile], own_from: int, cfg: PageDedupConfig) -> list[PageDuplicate]:
    """Step 2 over `files` (the first `own_from` of another corpus: kept, never dropped)."""
    import ray

    facts, bucket, verify = ray.remote(file_facts), ray.remote(bucket_edges), ray.remote(verify_edges)
    found_facts = ray.get([facts.remote(f) for f in files])
    for f, (_, knobs) in zip(files, found_facts):
        if knobs != cfg.knobs():
            raise UserError(f"{f[0].child(f[1])} holds signatures made with {knobs or 'unknown knobs'}, this build's "
                            f"are {cfg.knobs()}: build that corpus again with these dedup knobs, or use its")
    pages = sum(n for n, _ in found_facts)
    bands = cfg.bands if cfg.near else 0
    parts = max(1, math.ceil(pages * (bands + cfg.exact) / cfg.values_per_task))
    found = ray.get([bucket.remote(read_signatures, files, cfg.exact, bands, p, parts) for p in range(parts)])
    edges = np.unique(np.concatenate(found), axis=0) if found else np.empty((0, 3), np.int64)
    edges = edges[(edges[:, 0] >> 32) >= own_from]  # pages of another corpus are never dropped
    member_file = edges[:, 0] >> 32
    verified: list[Edge] = []
    for part in ray.get([verify.remote(read_signatures, files, int(f), edges[member_file == f])
                         for f in np.unique(member_file)]):
        verified += part
    dups = resolve(verified, cfg.threshold, own_from, cfg.exact, cfg.near)
    log.info("page dedup: %d pages in %d files, %d bucket tasks, %d candidate edges, %d duplicates (%d exact)",
             pages, len(files), parts, len(edges), len(dups), sum(d.kind == "exact" for d in dups))
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
    against = against_files(cfg.against, storage_options)
    files = against + signature_pass(items, store, prefix, inputs_per_shard, cfg)
    signed = time.perf_counter()
    dups = decide(files, len(against), cfg)
    log.info("page dedup: %.1f s for signatures, %.1f s for the decision", signed - start, time.perf_counter() - signed)
    store.put(DUPLICATES, parquet_bytes(duplicates_table(dups)))
    pages: dict[str, dict[int, tuple[str, str]]] = {}
    for d in dups:
        pages.setdefault(d.key[0], {})[d.key[1]] = (d.error_type, d.reason)
    return DropDuplicatePagesConfig(pages)
