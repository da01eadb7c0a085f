"""The image-text pipeline: manifests and folders of images → MiniCPM-V 4.5 image samples.

Once the build lock is held, deduplication is decided over the whole input set, globally and
deterministically (`pipelines.image_dedup`: signature files per shard beside the shards, reused on
rebuild and resume, and a decision in Ray tasks; the first image of a group in input-id order is kept).
Then the build (`pipelines.build.run_build`): drop duplicates → decode/verify/orient/resize/re-encode →
size and aspect filter → samples → the shared shard sink.

Every input ends as a sample or an error row: inputs = samples + duplicates + filtered + quarantined.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from corpus.config import to_dict
from corpus.config_types import AT_LEAST_ONE, POSITIVE, bounded
from corpus.errors import UserError
from corpus.inputs import InputItem
from operators.images.dedup import DedupConfig, DropDuplicates, DropDuplicatesConfig, Duplicate
from operators.images.ops import ImageDecode, ImageDecodeConfig, ImageFilter, ImageFilterConfig
from operators.images.samples import ImageSample, ImageSampleConfig
from operators.images.signature import FingerprintConfig, ImageSignatureConfig
from operators.manifest_inputs import collect_inputs
from pipelines.build import BuildSummary, RunConfig, run_build
from pipelines.image_dedup import image_dedup
from pipelines.ray_runtime import Stage


@dataclass
class ImagesResources:
    """CPUs per task (the stages fuse into one task per batch) and images per batch."""

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


def duplicate_decision(items: list[InputItem], out_dir: "str | Path", cfg: ImagesConfig) -> dict[str, Duplicate]:
    """The images to drop as repeats (`pipelines.image_dedup`); writes or reuses `DIR/dedup/`."""
    run = cfg.run
    return image_dedup(items, out_dir, run.prefix or "images", run.inputs_per_shard, cfg.dedup,
                       ImageSignatureConfig(cfg.fingerprint, cfg.filter), run.storage_options, run.address,
                       run.num_cpus)


def images_stages(cfg: ImagesConfig, decision: dict[str, Duplicate]) -> list[Stage]:
    """The operator chain of the build, dropping the images of `decision` first."""
    r = cfg.resources
    return [
        Stage(DropDuplicates, DropDuplicatesConfig.from_decision(decision), r.cpus, r.batch_size),
        Stage(ImageDecode, cfg.decode, r.cpus, r.batch_size),
        Stage(ImageFilter, cfg.filter, r.cpus, r.batch_size),
        Stage(ImageSample, cfg.samples, r.cpus, r.batch_size),
    ]


def build_images(inputs: list[str], out_dir: "str | Path", cfg: ImagesConfig | None = None) -> BuildSummary:
    """Build or resume an image corpus at `out_dir` (folder or object-store URL) from folders, manifests,
    image files, globs or URLs."""
    cfg = cfg or ImagesConfig()
    items = collect_inputs(inputs, "image")
    if not items:
        raise UserError(f"no images found in {inputs}")
    return run_build(pipeline="images", inputs=items, stages=lambda: images_stages(cfg, duplicate_decision(items, out_dir, cfg)),
                     out_dir=out_dir, run=cfg.run, config_record=to_dict(cfg))
