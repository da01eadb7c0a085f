"""Video operators without Ray: sampling, timestamps and temporal ids, rotation, damaged files, time limits."""
from __future__ import annotations

import io
import json
import os
import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from corpus.video_member import demux_frames
from model.video_sampling import official_sampling
from operators.base import Reject
from operators.time_limit import ChildError, TimeLimitedWorker
from operators.videos.frames import SamplingConfig, VideoFrames, VideoFramesConfig, extract_video
from operators.videos.samples import VideoSample
from pipelines.demo.videos import DEMO_VIDEOS, read_frame_index, write_demo_videos, write_video
from schemas.record import TASK_VIDEO_CAPTION, TASK_VIDEO_QA, SampleRecord
from schemas.tables import QUARANTINE
from schemas.video_member import TIME_BASE

CFG = VideoFramesConfig()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo videos by name."""
    d = tmp_path_factory.mktemp("videos")
    return {p.name: p for p in write_demo_videos(d)}


def shown_indices(frames: list[bytes]) -> list[int]:
    return [read_frame_index(np.asarray(Image.open(io.BytesIO(f)))) for f in frames]


def test_official_sampling_timestamps_and_temporal_ids_are_exact(demo):
    out = extract_video(str(demo["counter_30fps.mp4"]), CFG, "c30")
    ref = official_sampling(300, 30.0)
    assert out["frame_indices"] == ref.frame_indices and len(out["frames"]) == 30
    assert out["timestamps"] == [i / 30.0 for i in ref.frame_indices]
    assert out["packages"] == ref.packages and out["packing"] == 1
    assert out["frame_indices"][:3] == [5, 15, 25] and out["packages"][:3] == [[2], [5], [8]]  # 0.5 s -> id 5
    assert shown_indices(out["frames"]) == out["frame_indices"]  # the decoded frame is the one named
    assert (out["fps"], out["n_frames_total"], out["duration"], out["decoder"]) == (30.0, 300, 10.0, "decord")


def test_long_video_is_packed(demo):
    out = extract_video(str(demo["long_10fps.mp4"]), CFG, "long")
    ref = official_sampling(700, 10.0)
    assert ref.packing == 2 and out["packing"] == 2 and len(out["frame_indices"]) == 210
    assert out["packages"] == ref.packages and all(len(p) == 2 for p in out["packages"])
    assert out["packages"][0] == [1, 5]  # absolute time on the 0.1 s grid, not the index in the package
    assert shown_indices(out["frames"][:20]) == out["frame_indices"][:20]


def test_training_policy_is_bounded_random_and_reproducible(demo):
    cfg = replace(CFG, sampling=SamplingConfig(policy="training", seed=1))
    a = extract_video(str(demo["long_10fps.mp4"]), cfg, "long")
    b = extract_video(str(demo["long_10fps.mp4"]), cfg, "long")
    assert a["frame_indices"] == b["frame_indices"] and a["policy"] == "training"
    n = len(a["frame_indices"])
    assert n <= 1080 and n / 70.0 <= 10.0 and 1 <= a["packing"] <= 6
    assert len(a["packages"]) <= 180 and sum(len(p) for p in a["packages"]) == n
    draws = {len(extract_video(str(demo["counter_25fps_qa.mp4"]), replace(cfg, sampling=SamplingConfig("training", seed=s)),
                               "qa")["frame_indices"]) for s in range(6)}
    assert len(draws) > 1  # the rate is drawn per (seed, input id)


@pytest.mark.parametrize("rotation", [90, 180, 270])
@pytest.mark.parametrize("pyav_only", [False, True])
def test_rotated_videos_come_out_upright(tmp_path, rotation, pyav_only):
    p = write_video(tmp_path / f"r{rotation}.mp4", 10, 20, 160, 96, rotation=rotation)
    out = extract_video(str(p), CFG, "r", pyav_only=pyav_only)
    assert out["rotation"] == rotation and (out["width"], out["height"]) == (160, 96)
    assert shown_indices(out["frames"]) == out["frame_indices"]
    assert out["decoder"] == ("pyav" if pyav_only else "decord")


def test_demo_rotated_clip(demo):
    out = extract_video(str(demo["rotated_90.mp4"]), CFG, "rot")
    assert (out["width"], out["height"], out["rotation"]) == (144, 256, 90)
    assert shown_indices(out["frames"]) == out["frame_indices"]


def test_fixture_real_footage(shared_fixtures):
    out = extract_video(str(shared_fixtures / "videos" / "flipping_a_pancake.mkv"), CFG, "pancake")
    ref = official_sampling(310, 30.0)
    assert out["frame_indices"] == ref.frame_indices and len(out["frames"]) == 31
    assert out["packages"] == ref.packages and (out["width"], out["height"]) == (426, 240)


def test_fixture_corrupted_mp4_keeps_what_decodes(shared_fixtures):
    out = extract_video(str(shared_fixtures / "videos" / "corrupted.mp4"), CFG, "corrupt")
    assert out["decoder"] == "decord+pyav"  # decord's get_batch fails on the damaged packet
    assert len(out["frames"]) + out["n_missing"] == 15 and len(out["frames"]) >= 8
    assert (out["width"], out["height"]) == (1280, 720)


def test_fixture_rotated_mov_is_upright(shared_fixtures):
    out = extract_video(str(shared_fixtures / "videos" / "video_90.mov"), CFG, "mov")
    assert out["rotation"] == 270 and (out["width"], out["height"]) == (320, 568)  # portrait, as displayed
    assert Image.open(io.BytesIO(out["frames"][0])).size == (320, 568)


def test_truncated_video_keeps_frames_or_is_quarantined(tmp_path):
    p = write_video(tmp_path / "t.mp4", 10, 100, 160, 96, faststart=True)  # the index lists all 100 frames
    data = p.read_bytes()
    (tmp_path / "most.mp4").write_bytes(data[: int(len(data) * 0.8)])
    out = extract_video(str(tmp_path / "most.mp4"), CFG, "most")
    assert out["n_frames_total"] == 100 and out["n_missing"] > 0 and len(out["frames"]) >= 15
    assert shown_indices(out["frames"]) == out["frame_indices"]
    assert out["timestamps"] == [i / 10 for i in out["frame_indices"]]
    (tmp_path / "little.mp4").write_bytes(data[: int(len(data) * 0.25)])
    with pytest.raises(Reject) as e:
        extract_video(str(tmp_path / "little.mp4"), CFG, "little")
    assert e.value.error_type == "too_few_frames" and e.value.category == QUARANTINE
    (tmp_path / "junk.mp4").write_bytes(os.urandom(4096))
    with pytest.raises(Reject) as e:
        extract_video(str(tmp_path / "junk.mp4"), CFG, "junk")
    assert e.value.error_type == "unreadable_video"


def test_worker_kills_overrunning_calls_and_recovers():
    w = TimeLimitedWorker()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        w.call(time.sleep, (60,), timeout=0.5)
    assert time.monotonic() - started < 30
    assert w.call(sum, ([1, 2, 3],), timeout=30) == 6
    with pytest.raises(ChildError) as e:
        w.call(os._exit, (3,), timeout=30)
    assert e.value.type_name == "DecoderCrashed"
    with pytest.raises(ChildError) as e:
        w.call(int, ("x",), timeout=30)
    assert e.value.type_name == "ValueError"
    w.kill()


def test_worker_imports_the_preloaded_functions_modules_before_the_first_call():
    loaded = "'operators.videos.frames' in __import__('sys').modules"
    bare, warm = TimeLimitedWorker(), TimeLimitedWorker(preload=(extract_video,))
    try:
        assert (bare.call(eval, (loaded,), timeout=30), warm.call(eval, (loaded,), timeout=30)) == (False, True)
    finally:
        bare.kill()
        warm.kill()


def test_operator_quarantines_on_timeout_and_builds_samples(demo, tmp_path):
    rows = [dict(input_id=name, source=str(p), shard_id=0, seq=i, meta_json=json.dumps(v.meta))
            for i, (name, p, v) in enumerate(zip(demo, demo.values(), DEMO_VIDEOS))]
    slow = VideoFrames(replace(CFG, timeout_s=0.001))
    out = slow(rows[:1]).to_pylist()
    slow.close()
    assert (out[0]["error_type"], out[0]["error_category"]) == ("timeout", QUARANTINE)
    assert "PyAV" in out[0]["error_message"]
    op = VideoFrames(replace(CFG, store="original"))
    framed = VideoFrames(CFG)(rows[:2]).to_pylist()
    samples = VideoSample()(framed + op(rows[2:3]).to_pylist()).to_pylist()
    op.close()
    caption, qa, original = samples
    assert [m["ext"] for m in caption["members"]] == ["mp4", "json"]
    jpegs, times = demux_frames(caption["members"][0]["data"], "caption.mp4")
    assert jpegs == framed[0]["frames"] and caption["n_frames"] == len(jpegs)  # the chosen JPEGs, byte for byte
    assert all(abs(t - s) <= float(TIME_BASE) / 2 for t, s in zip(times, framed[0]["timestamps"], strict=True))
    rec = SampleRecord.from_json(caption["members"][-1]["data"])
    assert rec.task == TASK_VIDEO_CAPTION and rec.conversations[0].content.startswith("<video>\n")
    assert rec.temporal_ids == official_sampling(300, 30.0).packages and rec.fps == 30.0 and rec.duration == 10.0
    assert rec.frame_timestamps == [i / 30 for i in rec.frame_indices] and rec.meta["store"] == "frames"
    assert SampleRecord.from_json(qa["members"][-1]["data"]).task == TASK_VIDEO_QA and len(demux_frames(qa["members"][0]["data"], "qa.mp4")[0]) == 18
    assert [m["ext"] for m in original["members"]] == ["mp4", "json"]
    orec = SampleRecord.from_json(original["members"][-1]["data"])
    assert orec.meta["store"] == "original" and orec.meta["rotation"] == 90 and len(orec.frame_indices) == 12
    assert original["members"][0]["data"] == demo["rotated_90.mp4"].read_bytes()

