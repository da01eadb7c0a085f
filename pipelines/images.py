"""The image-text pipeline: manifests and folders of images → MiniCPM-V 4.5 image samples.

Two passes, so that deduplication is global and deterministic:

1. fingerprint (Ray Data): sha256 and pHash of every image, collected on the driver (small rows);
   `operators.images.dedup.decide_duplicates` marks repeats in input-id order, the first of a group kept.
   Only images that can be kept compete: unreadable, filtered or text-less ones never "keep" a group.
   The fingerprints and the decision are written to `DIR/dedup/` (the decision is also the record of
   what was dropped and why) and reused when the build resumes with the same inputs.
2. build (`pipelines.engine.run.run_build`): drop duplicates → decode/verify/orient/resize/re-encode →
   size and aspect filter → samples → the shared shard sink.

Every input ends as a sample or an error row: inputs = samples + duplicates + filtered + quarantined.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.config_types import AT_LEAST_ONE, POSITIVE, bounded
from corpus.inputs import InputItem
from corpus.sink import write_parquet
from corpus.storage import Store
from operators.images.dedup import (
    DedupConfig,
    DropDuplicates,
    DropDuplicatesConfig,
    Duplicate,
    Fingerprint,
    decide_duplicates,
)
from operators.images.ops import (
    FingerprintConfig,
    ImageDecode,
    ImageDecodeConfig,
    ImageFilter,
    ImageFilterConfig,
    ImageFingerprint,
    size_verdict,
)
from operators.images.samples import ImageSample, ImageSampleConfig
from operators.manifest_inputs import collect_inputs
from operators.media_text import conversation_from_meta
from pipelines.engine.pipeline import Pipeline
from pipelines.engine.ray_runtime import init_ray, map_step
from pipelines.engine.run_config import RunConfig
from pipelines.engine.steps import Step
from schemas.tables import IMAGE_FINGERPRINT_SCHEMA, INPUT_SCHEMA

log = logging.getLogger(__name__)

DEDUP_DIR = "dedup"
FINGERPRINTS = "fingerprints.parquet"
DUPLICATES = "duplicates.parquet"
FINGERPRINT_COLUMNS = ("input_id", "sha256", "phash", "orig_width", "orig_height", "error_type", "error_message")
DUPLICATES_SCHEMA = pa.schema([("input_id", pa.string()), ("kept_id", pa.string()), ("kind", pa.string()),
                               ("distance", pa.int32()), ("reason", pa.string())])


@dataclass
class ImagesResources:
    """CPUs per task, and images per batch of the fingerprint pass (the build's steps run fused in one task per shard)."""

    cpus: float = bounded(1.0, POSITIVE)
    batch_size: int = bounded(16, AT_LEAST_ONE)


@dataclass
class ImagesConfig:
    """Everything that shapes an images build; recorded in the manifest of every run."""

    SEED: ClassVar[str] = "run.seed"  # the build's one seed (no image operator draws at random today)
    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decode: ImageDecodeConfig = field(default_factory=ImageDecodeConfig)
    filter: ImageFilterConfig = field(default_factory=ImageFilterConfig)
    samples: ImageSampleConfig = field(default_factory=ImageSampleConfig)
    resources: ImagesResources = field(default_factory=ImagesResources)
    run: RunConfig = field(default_factory=lambda: RunConfig(inputs_per_shard=1000))


def _has_text(item: InputItem) -> bool:
    try:
        conversation_from_meta(item.meta, "image")
    except ValueError:
        return False
    return True


def fingerprint_table(items: list[InputItem], cfg: ImagesConfig) -> pa.Table:
    """sha256/pHash/size of every input (error rows for unreadable ones), computed with Ray Data."""
    import ray.data

    init_ray(cfg.run.address, cfg.run.num_cpus)
    rows = pa.Table.from_pylist(
        [it.row(0, i) for i, it in enumerate(items)], schema=INPUT_SCHEMA)
    n = cfg.resources.batch_size
    ds = ray.data.from_arrow([rows.slice(i, n) for i in range(0, rows.num_rows, n)])
    ds = map_step(ds, Step(ImageFingerprint, cfg.fingerprint, cfg.resources.cpus), n)
    schema = pa.schema([IMAGE_FINGERPRINT_SCHEMA.field(c) for c in FINGERPRINT_COLUMNS])
    return pa.Table.from_pylist(ds.select_columns(list(FINGERPRINT_COLUMNS)).take_all(), schema=schema).sort_by("input_id")


def _cached_fingerprints(store: Store, rel: str, items: list[InputItem]) -> pa.Table | None:
    if not store.exists(rel):
        return None
    table = pq.read_table(pa.BufferReader(store.read(rel)))
    if sorted(table.column("input_id").to_pylist()) != sorted(i.input_id for i in items):
        log.info("%s is for other inputs; fingerprinting again", store.child(rel))
        return None
    return table


def duplicate_decision(items: list[InputItem], fingerprints: pa.Table, cfg: ImagesConfig) -> dict[str, Duplicate]:
    """Duplicates among the images that could be kept (readable, passing the filter, with text)."""
    texted = {it.input_id for it in items if _has_text(it)}
    candidates = [
        Fingerprint(r["input_id"], r["sha256"], int(r["phash"], 16))
        for r in fingerprints.to_pylist()
        if r["error_type"] is None and r["input_id"] in texted
        and size_verdict(r["orig_width"], r["orig_height"], cfg.filter)[0]
    ]
    return decide_duplicates(candidates, cfg.dedup)


def dedup_pass(items: list[InputItem], out_dir: "Store | str | Path", cfg: ImagesConfig) -> dict[str, Duplicate]:
    """Pass 1 (see the module docstring); writes or reuses `DIR/dedup/` (a folder or object-store prefix)."""
    store = Store.of(out_dir, cfg.run.storage_options)
    fps = _cached_fingerprints(store, f"{DEDUP_DIR}/{FINGERPRINTS}", items)
    if fps is None:
        fps = fingerprint_table(items, cfg)
        write_parquet(store, f"{DEDUP_DIR}/{FINGERPRINTS}", fps)
    decision = duplicate_decision(items, fps, cfg)
    table = pa.Table.from_pylist(
        [dict(input_id=k, kept_id=v.kept_id, kind=v.kind, distance=v.distance, reason=v.reason)
         for k, v in sorted(decision.items())], schema=DUPLICATES_SCHEMA)
    write_parquet(store, f"{DEDUP_DIR}/{DUPLICATES}", table)
    log.info("dedup: %d of %d images repeat a kept one (%d exact)", len(decision), len(items),
             sum(v.kind == "exact" for v in decision.values()))
    return decision


def images_steps(cfg: ImagesConfig, decision: dict[str, Duplicate]) -> list[Step]:
    """The operator chain of pass 2, dropping the duplicates of `decision`."""
    r = cfg.resources
    return [Step(DropDuplicates, DropDuplicatesConfig.from_decision(decision), r.cpus), Step(ImageDecode, cfg.decode, r.cpus),
            Step(ImageFilter, cfg.filter, r.cpus), Step(ImageSample, cfg.samples, r.cpus)]


def _steps(cfg: ImagesConfig, items: list[InputItem], store: Store) -> list[Step]:
    """Pass 1 (run under the build lock), then the steps of pass 2 with its decision."""
    return images_steps(cfg, dedup_pass(items, store, cfg))


IMAGES: Pipeline[ImagesConfig] = Pipeline("images", "image", ImagesConfig, partial(collect_inputs, kind="image"), _steps)
build_images = IMAGES.build
