"""The video pipeline: folders or manifests of videos → MiniCPM-V 4.5 video samples. Declared once as `VIDEOS`.

decode (probe, sample with the official or training policy, decode under a hard time limit, upright,
JPEG) → samples (frames + record with timestamps, temporal ids and packages) → the shared shard sink.
Unreadable, timed-out and too-damaged videos are quarantined with their reason; inputs = samples +
error rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

from corpus.config_types import POSITIVE, bounded
from corpus.inputs import InputItem
from corpus.storage import Store
from operators.manifest_inputs import collect_inputs
from operators.videos.frames import VideoFrames, VideoFramesConfig
from operators.videos.samples import VideoSample, VideoSampleConfig
from pipelines.engine.pipeline import Pipeline
from pipelines.engine.run_config import RunConfig
from pipelines.engine.steps import Step


@dataclass
class VideosResources:
    """CPUs per shard task (decode and samples run fused in it; parallelism comes from shards in flight)."""

    cpus: float = bounded(1.0, POSITIVE)


@dataclass
class VideosConfig:
    """Everything that shapes a videos build; recorded in the manifest of every run."""

    SEED: ClassVar[str] = "run.seed"  # the build's one seed: frames.sampling.seed follows it
    frames: VideoFramesConfig = field(default_factory=VideoFramesConfig)
    samples: VideoSampleConfig = field(default_factory=VideoSampleConfig)
    resources: VideosResources = field(default_factory=VideosResources)
    run: RunConfig = field(default_factory=lambda: RunConfig(inputs_per_shard=32))


def videos_steps(cfg: VideosConfig) -> list[Step]:
    """Decode, then samples."""
    return [Step(VideoFrames, cfg.frames, cfg.resources.cpus), Step(VideoSample, cfg.samples, cfg.resources.cpus)]


def _steps(cfg: VideosConfig, items: list[InputItem], store: Store) -> list[Step]:
    """The steps of every build: nothing depends on the other inputs or the corpus."""
    return videos_steps(cfg)


VIDEOS: Pipeline[VideosConfig] = Pipeline("videos", "video", VideosConfig, partial(collect_inputs, kind="video"), _steps)
build_videos = VIDEOS.build
