"""The video pipeline: folders or manifests of videos → MiniCPM-V 4.5 video samples.

decode (probe, sample with the official or training policy, decode under a hard time limit, upright,
JPEG) → samples (frames + record with timestamps, temporal ids and packages) → the shared shard sink.
Unreadable, timed-out and too-damaged videos are quarantined with their reason; inputs = samples +
error rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from corpus.config import one_seed, to_dict
from corpus.config_types import POSITIVE, bounded
from corpus.errors import UserError
from operators.manifest_inputs import collect_inputs
from operators.videos.frames import VideoFrames, VideoFramesConfig
from operators.videos.samples import VideoSample, VideoSampleConfig
from pipelines.build import BuildSummary, RunConfig, run_build
from pipelines.ray_runtime import Stage


@dataclass
class VideosResources:
    """CPUs per task (decode and sample stages fuse into one task per batch) and videos per batch."""

    cpus: float = bounded(1.0, POSITIVE)
    batch_size: int = 1


@dataclass
class VideosConfig:
    """Everything that shapes a videos build; recorded in the manifest of every run."""

    SEED: ClassVar[str] = "run.seed"  # the build's one seed: frames.sampling.seed follows it
    frames: VideoFramesConfig = field(default_factory=VideoFramesConfig)
    samples: VideoSampleConfig = field(default_factory=VideoSampleConfig)
    resources: VideosResources = field(default_factory=VideosResources)
    run: RunConfig = field(default_factory=lambda: RunConfig(inputs_per_shard=32))


def videos_stages(cfg: VideosConfig) -> list[Stage]:
    """The operator chain; the training policy's seed is the run seed."""
    cfg = one_seed(cfg)
    r = cfg.resources
    return [
        Stage(VideoFrames, cfg.frames, r.cpus, r.batch_size),
        Stage(VideoSample, cfg.samples, r.cpus, r.batch_size),
    ]


def build_videos(inputs: list[str], out_dir: "str | Path", cfg: VideosConfig | None = None) -> BuildSummary:
    """Build or resume a video corpus at `out_dir` (folder or object-store URL) from folders, manifests,
    video files, globs or URLs."""
    cfg = one_seed(cfg or VideosConfig())
    items = collect_inputs(inputs, "video")
    if not items:
        raise UserError(f"no videos found in {inputs}")
    return run_build(pipeline="videos", inputs=items, stages=videos_stages(cfg), out_dir=out_dir, run=cfg.run,
                     config_record=to_dict(cfg))
