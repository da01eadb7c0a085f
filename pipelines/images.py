"""The image-text pipeline: manifests and folders of images → MiniCPM-V 4.5 image samples. Declared once
as `IMAGES`.

Once the build lock is held, deduplication is decided over the whole input set, globally and
deterministically (`pipelines.dedup.images`: signature files per shard beside the shards, reused on
rebuild and resume, and a decision in Ray tasks; the first image of a group in input-id order is kept).
Then the build (`pipelines.engine.run.run_build`): drop duplicates → decode/verify/orient/resize/re-encode →
size and aspect filter → samples → the shared shard sink.

Every input ends as a sample or an error row: inputs = samples + duplicates + filtered + quarantined.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from corpus.config_types import POSITIVE, bounded
from corpus.inputs import InputItem
from corpus.storage import Store
from operators.images.dedup import DedupConfig, DropDuplicates, DropDuplicatesConfig, Duplicate
from operators.images.ops import ImageDecode, ImageDecodeConfig, ImageFilter, ImageFilterConfig
from operators.images.samples import ImageSample, ImageSampleConfig
from operators.images.signature import FingerprintConfig, ImageSignatureConfig
from operators.manifest_inputs import collect_inputs
from pipelines.dedup.images import image_dedup
from pipelines.engine.pipeline import Pipeline
from pipelines.engine.run_config import RunConfig
from pipelines.engine.steps import Step


@dataclass
class ImagesResources:
    """CPUs per shard task (the steps run fused in it; parallelism comes from shards in flight)."""

    cpus: float = bounded(1.0, POSITIVE)


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


def duplicate_decision(items: list[InputItem], store: Store, cfg: ImagesConfig) -> dict[str, Duplicate]:
    """The images to drop as repeats (`pipelines.dedup.images`); writes or reuses `DIR/dedup/`."""
    run = cfg.run
    return image_dedup(items, store, run.prefix or IMAGES.name, run.inputs_per_shard, cfg.dedup,
                       ImageSignatureConfig(cfg.fingerprint, cfg.filter), run.storage_options, run.address,
                       run.num_cpus)


def images_steps(cfg: ImagesConfig, decision: dict[str, Duplicate]) -> list[Step]:
    """The operator steps of the build, dropping the images of `decision` first."""
    r = cfg.resources
    return [Step(DropDuplicates, DropDuplicatesConfig.from_decision(decision), r.cpus),
            Step(ImageDecode, cfg.decode, r.cpus), Step(ImageFilter, cfg.filter, r.cpus),
            Step(ImageSample, cfg.samples, r.cpus)]


def _steps(cfg: ImagesConfig, items: list[InputItem], store: Store) -> list[Step]:
    """The dedup decision (run under the build lock), then the steps that apply it."""
    return images_steps(cfg, duplicate_decision(items, store, cfg))


IMAGES: Pipeline[ImagesConfig] = Pipeline("images", "image", ImagesConfig, partial(collect_inputs, kind="image"), _steps)
build_images = IMAGES.build
