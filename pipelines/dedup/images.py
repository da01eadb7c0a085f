"""Image deduplication of an images build: signatures per shard, a decision on Ray, images dropped in the build.

The machinery of page dedup (`pipelines.dedup.pages`), run once the build lock is held, before the shards:

1. signatures (`pipelines.dedup.signatures`): one Ray task per shard of the build's plan writes
   `DIR/dedup/images/{prefix}-{shard:06d}.parquet`: the sha256 prefix and pHash of every image that could
   be kept (`operators.images.signature.ImageSignatures`: readable, passing the size filter, with text;
   decoded at reduced scale). A file made with the same knobs from the same inputs is reused.
   `dedup.against` (`--set 'dedup.against=["DIR"]'`) reads another corpus's files: its images come first.
2. decision (`pipelines.dedup.decision`): bucket tasks keyed by a partition of the band values (the exact
   hash, and the pHash cut into `max_hamming + 1` slices: two pHashes within `max_hamming` bits share a
   slice) link every pair within the distance; verify tasks measure the links (Hamming distance); the
   driver applies the keep rule (`operators.images.dedup.resolve_first_kept`: first in input-id order kept,
   a later image dropped when it repeats a kept one) and writes `DIR/dedup/duplicates.parquet`.
3. the build drops them (`operators.images.dedup.DropDuplicates`): each an error row naming the kept image.
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
from operators.dedup.verify import HAMMING
from operators.images.dedup import DedupConfig, Duplicate, resolve_first_kept
from operators.images.signature import ImageSignatureConfig, ImageSignatures
from pipelines.dedup.decision import measured_links
from pipelines.dedup.signatures import against_files, signature_pass
from pipelines.engine.ray_runtime import init_ray
from schemas.tables import IMAGE_DUPLICATE_SCHEMA, IMAGE_SIGNATURE_SCHEMA

log = logging.getLogger(__name__)

SIGNATURES = "dedup/images"
DUPLICATES = "dedup/duplicates.parquet"


def signature_rows(cfg: ImageSignatureConfig, rows: list[dict]) -> list[dict]:
    """The signature rows of some input rows (images that could not be kept have none)."""
    return [r for r in ImageSignatures(cfg).run_rows(rows) if not is_error(r)]


def duplicates_table(decision: dict[str, Duplicate]) -> pa.Table:
    """The decision as rows of `IMAGE_DUPLICATE_SCHEMA`, by input id."""
    return pa.Table.from_pylist([dict(input_id=k, kept_id=d.kept_id, kind=d.kind, distance=d.distance, reason=d.reason)
                                 for k, d in sorted(decision.items())], schema=IMAGE_DUPLICATE_SCHEMA)


def image_dedup(items: list[InputItem], out_dir: "Store | str | Path", prefix: str, inputs_per_shard: int,
                cfg: DedupConfig, signing: ImageSignatureConfig, storage_options: dict,
                address: str | None = None, num_cpus: int | None = None) -> dict[str, Duplicate]:
    """Steps 1 and 2 for a build of `items` at `out_dir`: input id → `Duplicate` of every image to drop."""
    if not (cfg.exact or cfg.near):
        return {}
    init_ray(address, num_cpus)
    start = time.perf_counter()
    store = Store.of(out_dir, storage_options)
    against = against_files(cfg.against, SIGNATURES, storage_options)
    files = against + signature_pass(items, store, SIGNATURES, prefix, inputs_per_shard,
                                     functools.partial(signature_rows, signing), IMAGE_SIGNATURE_SCHEMA,
                                     signing.KNOBS, signing.made_with())
    signed = time.perf_counter()
    banding = Banding(exact=cfg.exact, bands=cfg.max_hamming + 1 if cfg.near else 0, column="phash",
                      max_hamming=cfg.max_hamming)
    links = measured_links(files, len(against), signing.KNOBS, banding, HAMMING, cfg.values_per_task)
    decision = resolve_first_kept(links, cfg, len(against))
    store.put(DUPLICATES, parquet_bytes(duplicates_table(decision)))
    log.info("image dedup: %d of %d images repeat a kept one (%d exact); %.1f s for signatures, %.1f s for the "
             "decision", len(decision), len(items), sum(d.kind == "exact" for d in decision.values()),
             signed - start, time.perf_counter() - signed)
    return decision
