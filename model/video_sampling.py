"""Video frame sampling, packing and temporal ids for the 3D-Resampler.

Two policies, both pure functions of the video's frame count and frame rate:

* :func:`official_sampling` reproduces the released MiniCPM-V 4.5 inference example (``encode_video`` in the
  model card / ``OpenBMB/MiniCPM-V`` README) arithmetic for arithmetic, including its
  float quirks, so a model fed by it sees exactly what the released model sees.
* :func:`training_sampling` is the randomised training policy (at most 1080 frames at up to 10 fps, random
  package size and frame rate). The paper gives only those bounds; the distribution is ours and documented
  on the function.

A *package* is a run of up to ``packing`` consecutive sampled frames that the 3D-Resampler compresses jointly
into one block of ``query_num`` (64) tokens. The *temporal id* of a frame is its timestamp snapped to the
``time_scale`` grid and divided by ``time_scale`` (absolute time, not the index within the package).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

MAX_PACKING_SUPPORTED = 6


@dataclass(frozen=True)
class VideoSampling:
    """The frames to decode and how the model groups them.

    Attributes:
        frame_indices: indices into the decoded video, one per sampled frame, non-decreasing.
        timestamps: ``frame_index / fps`` in seconds, one per sampled frame.
        temporal_ids: the temporal id of each sampled frame (see module docstring).
        packing: the package size used (the last package may be shorter).
        packages: ``temporal_ids`` split into consecutive packages of ``packing`` frames; this is what the
            processor and the 3D-Resampler consume (one 64-token block per package).
    """

    frame_indices: list[int]
    timestamps: list[float]
    temporal_ids: list[int]
    packing: int
    packages: list[list[int]]

    @property
    def num_frames(self) -> int:
        return len(self.frame_indices)

    @property
    def num_packages(self) -> int:
        return len(self.packages)


def _validate(n_frames: int, fps: float, max_packing: int, time_scale: float) -> None:
    if not time_scale > 0:
        raise ValueError(f"time_scale must be positive, got {time_scale}")
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got n_frames={n_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 1 <= max_packing <= MAX_PACKING_SUPPORTED:
        raise ValueError(f"max_packing must be in 1..{MAX_PACKING_SUPPORTED}, got {max_packing}")


def uniform_frame_indices(n_frames: int, n: int) -> list[int]:
    """Indices of ``n`` frames at the centres of ``n`` equal bins over ``n_frames`` frames.

    Same arithmetic as the released ``uniform_sample``: ``int(i * gap + gap / 2)`` with ``gap = n_frames / n``
    (indices repeat when ``n > n_frames``).
    """
    if n < 1:
        raise ValueError(f"need at least one frame to sample, got n={n}")
    gap = n_frames / n
    return [int(i * gap + gap / 2) for i in range(n)]


def temporal_ids_for(frame_indices: list[int], n_frames: int, fps: float, time_scale: float = 0.1) -> list[int]:
    """Temporal ids of the given frames, exactly as the released code computes them.

    The timestamp ``index / fps`` is snapped to the nearest point of ``np.arange(0, n_frames / fps, time_scale)``
    (a KD-tree query, as released, which also fixes how exact ties resolve), divided by ``time_scale`` and
    truncated to int32. Because ``k * 0.1 / 0.1`` is slightly below ``k`` for some ``k`` in floating point, the
    truncation maps such grid points to ``k - 1`` (e.g. 4.3 s gives 42, not 43): the released model was run
    with these ids, so they are reproduced rather than corrected.
    """
    duration = n_frames / fps
    scale = np.arange(0, duration, time_scale)
    timestamps = np.asarray(frame_indices, dtype=np.float64) / fps
    _, nearest = cKDTree(scale[:, None]).query(timestamps[:, None])
    return (scale[nearest] / time_scale).astype(np.int32).tolist()


def group_packages(temporal_ids: list[int], packing: int) -> list[list[int]]:
    """Consecutive packages of ``packing`` ids; the last one holds the remainder."""
    if packing < 1:
        raise ValueError(f"packing must be >= 1, got {packing}")
    return [list(temporal_ids[i : i + packing]) for i in range(0, len(temporal_ids), packing)]


def _build(frame_indices: list[int], n_frames: int, fps: float, packing: int, time_scale: float) -> VideoSampling:
    temporal_ids = temporal_ids_for(frame_indices, n_frames, fps, time_scale)
    return VideoSampling(
        frame_indices=frame_indices,
        timestamps=[i / fps for i in frame_indices],
        temporal_ids=temporal_ids,
        packing=packing,
        packages=group_packages(temporal_ids, packing),
    )


def official_sampling(
    n_frames: int,
    fps: float,
    choose_fps: float = 3,
    max_packages: int = 180,
    max_packing: int = 3,
    time_scale: float = 0.1,
    force_packing: int | None = None,
) -> VideoSampling:
    """The released inference sampling policy (the official video example).

    With duration ``d = n_frames / fps``: if ``choose_fps * floor(d) <= max_packages``, packing is 1 and
    ``round(min(choose_fps, round(fps)) * min(max_packages, d))`` frames are taken; otherwise packing is
    ``ceil(d * choose_fps / max_packages)`` and ``round(d * choose_fps)`` frames are taken, unless that packing
    exceeds ``max_packing``, in which case packing is ``max_packing`` and ``max_packages * max_packing`` frames are
    taken. ``force_packing`` overrides the packing (capped at ``max_packing``) after the frame count is fixed,
    as released.

    Like the released code, the first branch may exceed ``max_packages`` slightly (e.g. a 60.9 s clip at
    ``choose_fps`` 3 gives 183 packages of one frame). One deviation, ours: a clip so short that the formula
    gives zero frames gets one frame (the released code divides by zero).
    """
    _validate(n_frames, fps, max_packing, time_scale)
    duration = n_frames / fps
    if choose_fps * int(duration) <= max_packages:
        packing = 1
        n = round(min(choose_fps, round(fps)) * min(max_packages, duration))
    else:
        packing = math.ceil(duration * choose_fps / max_packages)
        if packing <= max_packing:
            n = round(duration * choose_fps)
        else:
            n = round(max_packages * max_packing)
            packing = max_packing
    if force_packing:
        packing = min(force_packing, max_packing)
    frame_indices = uniform_frame_indices(n_frames, max(n, 1))
    return _build(frame_indices, n_frames, fps, packing, time_scale)


def training_sampling(
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
    max_frames: int = 1080,
    max_fps: float = 10.0,
    max_packing: int = 6,
    max_packages: int = 180,
    min_fps: float = 1.0,
    time_scale: float = 0.1,
) -> VideoSampling:
    """Randomised training sampling: at most ``max_frames`` frames at up to ``max_fps``, random rate and packing.

    The paper states only the bounds (<= 1080 frames, <= 10 fps, random package size and frame rate); the
    distribution is ours:

    1. a sampling rate ``f ~ Uniform(min(min_fps, r), r)`` with ``r = min(max_fps, fps)``;
    2. ``n = clip(round(d * f), 1, max_frames)`` frames at the centres of equal bins (as released);
    3. a packing ``p ~ UniformInt(1, max_packing)``, raised to ``ceil(n / max_packages)`` so that a video never
       gives more than ``max_packages`` packages; if that exceeds ``max_packing``, packing is ``max_packing`` and
       ``n`` is cut to ``max_packing * max_packages``;
    4. temporal ids exactly as :func:`official_sampling`.
    """
    _validate(n_frames, fps, max_packing, time_scale)
    duration = n_frames / fps
    high = min(max_fps, fps)
    rate = float(rng.uniform(min(min_fps, high), high))
    n = int(min(max(round(duration * rate), 1), max_frames))
    packing = max(int(rng.integers(1, max_packing + 1)), math.ceil(n / max_packages))
    if packing > max_packing:
        packing = max_packing
        n = max_packing * max_packages
    frame_indices = uniform_frame_indices(n_frames, n)
    return _build(frame_indices, n_frames, fps, packing, time_scale)
