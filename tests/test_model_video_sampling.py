"""Video sampling policies: the released inference arithmetic and the bounded training policy."""

import numpy as np
import pytest

from model.video_sampling import (
    group_packages,
    official_sampling,
    temporal_ids_for,
    training_sampling,
    uniform_frame_indices,
)


@pytest.mark.parametrize(
    "seconds, fps, frames, packing, packages",
    [
        (60, 30.0, 180, 1, 180),  # 3 fps * 60 s = 180 packages of one frame
        (20, 25.0, 60, 1, 60),
        (100, 30.0, 300, 2, 150),  # ceil(300 / 180) = 2 <= max packing 3
        (600, 30.0, 540, 3, 180),  # packing 10 > 3: capped, 180 * 3 frames
        (3600, 24.0, 540, 3, 180),
    ],
)
def test_official_frame_counts_and_packing(seconds, fps, frames, packing, packages):
    s = official_sampling(int(seconds * fps), fps)
    assert (s.num_frames, s.packing, s.num_packages) == (frames, packing, packages)
    assert [len(p) for p in s.packages[:-1]] == [packing] * (packages - 1)
    assert sum(s.packages, []) == s.temporal_ids


def test_official_first_branch_may_overshoot_like_release():
    # 60.9 s at 3 fps: 3 * floor(60.9) = 180 <= 180, so packing 1 and round(3 * 60.9) = 183 frames.
    s = official_sampling(609, 10.0)
    assert (s.num_frames, s.packing) == (183, 1)


def test_official_low_fps_source_caps_rate():
    # A 2 fps source: min(3, round(2)) = 2 frames per second.
    s = official_sampling(40, 2.0)
    assert s.num_frames == 40 and s.packing == 1


def test_force_packing_is_capped():
    assert official_sampling(1800, 30.0, force_packing=6).packing == 3
    assert official_sampling(1800, 30.0, max_packing=6, force_packing=6).packing == 6


def test_uniform_indices_are_bin_centres():
    assert uniform_frame_indices(100, 4) == [12, 37, 62, 87]
    assert uniform_frame_indices(2, 4) == [0, 0, 1, 1]


def test_temporal_ids_are_absolute_time_on_the_grid():
    assert temporal_ids_for([1234], 2000, 100.0) == [123]  # 12.34 s -> 12.3 s -> 123
    assert temporal_ids_for([5], 1800, 30.0) == [2]  # 0.1667 s -> 0.2 s
    # The released float truncation: 4.3 / 0.1 = 42.999..., so 4.3 s gets id 42 (as does 4.2 s).
    assert temporal_ids_for([42, 43, 44], 100, 10.0) == [42, 42, 44]


def test_short_clip_gets_one_frame():
    s = official_sampling(1, 30.0)
    assert s.frame_indices == [0] and s.packages == [[0]]


def test_group_packages_keeps_remainder():
    assert group_packages([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


@pytest.mark.parametrize("seconds, fps", [(5, 30.0), (60, 60.0), (600, 24.0), (7200, 30.0), (3, 4.0)])
def test_training_sampling_respects_bounds(seconds, fps):
    rng = np.random.default_rng(0)
    n_frames = int(seconds * fps)
    packings = set()
    for _ in range(50):
        s = training_sampling(n_frames, fps, rng)
        packings.add(s.packing)
        assert 1 <= s.num_frames <= 1080
        assert s.num_frames <= max(1, round(seconds * min(10.0, fps)))
        assert 1 <= s.packing <= 6 and s.num_packages <= 180
        assert s.frame_indices == sorted(s.frame_indices) and s.frame_indices[-1] < n_frames
        assert sum(s.packages, []) == s.temporal_ids
    if seconds <= 60:
        assert len(packings) > 1  # package size is randomised


def test_invalid_arguments_fail():
    with pytest.raises(ValueError):
        official_sampling(0, 30.0)
    with pytest.raises(ValueError):
        official_sampling(10, 30.0, max_packing=7)
