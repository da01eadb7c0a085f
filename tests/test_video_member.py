"""The `{key}.mp4` frames member: exact JPEG round trip, exact timestamps, byte determinism, limits, refusals."""
from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from corpus.tar_members import SampleError
from corpus.video_member import demux_frames, is_frame_member, mux_frames
from schemas.video_member import TIME_BASE

# non-uniform, starting after 0 (the official packing's times): 1/6 s is not a whole millisecond
TIMES = [1 / 6, 0.5, 5 / 6, 1.1, 61 / 30, 3.7]


def _jpegs(n: int, size: tuple[int, int] = (64, 48)) -> list[bytes]:
    out = []
    for i in range(n):
        a = np.zeros((size[1], size[0], 3), np.uint8)
        a[:, (i * 7) % size[0]] = 255
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def test_frames_and_timestamps_round_trip_exactly():
    jpegs = _jpegs(len(TIMES))
    got, times = demux_frames(mux_frames(jpegs, TIMES), "k.mp4")
    assert got == jpegs  # the very bytes, not a re-encoding
    assert all(abs(t - s) <= float(TIME_BASE) / 2 for t, s in zip(times, TIMES, strict=True))


def test_readers_see_the_frames_at_their_times():
    import decord

    data = mux_frames(_jpegs(len(TIMES)), TIMES)
    with av.open(io.BytesIO(data)) as c:  # libavformat: what ffprobe reports
        s = c.streams.video[0]
        assert (s.codec_context.name, s.frames, s.width, s.height) == ("mjpeg", len(TIMES), 64, 48)
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    assert len(decoded) == len(TIMES) and decoded[0].shape == (48, 64, 3)
    vr = decord.VideoReader(io.BytesIO(data))  # decord counts from the first frame
    assert len(vr) == len(TIMES)
    assert np.allclose(vr.get_frame_timestamp(range(len(vr)))[:, 0], np.array(TIMES) - TIMES[0], atol=1e-5)
    assert vr.get_batch([0, 5]).shape == (2, 48, 64, 3)


def test_muxing_is_byte_deterministic_here_and_in_a_child_process():
    jpegs = _jpegs(len(TIMES))
    first = mux_frames(jpegs, TIMES)
    assert mux_frames(jpegs, TIMES) == first
    code = ("import sys, hashlib; sys.path.insert(0, '.'); from tests.test_video_member import _jpegs, TIMES; "
            "from corpus.video_member import mux_frames; "
            "print(hashlib.sha256(mux_frames(_jpegs(len(TIMES)), TIMES)).hexdigest())")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == hashlib.sha256(first).hexdigest()
    assert b"Lavf" not in first and b"Lavc" not in first  # no library version strings


def test_bad_timestamps_are_refused_at_mux():
    with pytest.raises(ValueError, match="increase"):
        mux_frames(_jpegs(2), [0.5, 0.5])
    with pytest.raises(ValueError, match=">= 0"):
        mux_frames(_jpegs(1), [-0.1])
    with pytest.raises(ValueError, match="one timestamp per frame"):
        mux_frames(_jpegs(2), [0.0])


def test_corrupt_or_hostile_members_raise_sample_error():
    data = mux_frames(_jpegs(len(TIMES)), TIMES)
    with pytest.raises(SampleError) as e:
        demux_frames(data[: len(data) // 3], "k.mp4")
    assert e.value.reason == "bad-video" and "k.mp4" in str(e.value)
    with pytest.raises(SampleError, match="bad-video"):
        demux_frames(b"\0" * 4000, "k.mp4")
    with pytest.raises(SampleError, match="too-many-images"):
        demux_frames(data, "k.mp4", max_frames=5)
    with pytest.raises(SampleError, match="member-too-large"):
        demux_frames(data, "k.mp4", max_bytes=len(data) - 1)


def test_an_original_h264_file_is_not_frames(tmp_path):
    from pipelines.demo.videos import write_video

    path = write_video(tmp_path / "a.mp4", 10, 5, 160, 96)
    with pytest.raises(SampleError) as e:
        demux_frames(path.read_bytes(), "k.mp4")
    assert e.value.reason == "video-container" and "frames.store=frames" in str(e.value)


def test_old_frame_member_names():
    assert all(map(is_frame_member, ["000.jpg", "017.jpg", "1079.jpg"]))
    assert not any(map(is_frame_member, ["jpg", "mp4", "json", "000.png", "a0.jpg", "1.jpg"]))  # 1.jpg: a second image


def test_the_bridge_decode_refuses_a_sample_of_numbered_frame_members():
    from schemas.record import SampleRecord
    from training_bridge.data.config import DataConfig
    from training_bridge.data.decode import decode_sample

    record = SampleRecord(key="k", task="video_caption", conversations=[], source="t", input_id="k")
    members = {"000.jpg": _jpegs(1)[0], "json": record.to_json()}
    with pytest.raises(SampleError) as e:
        decode_sample(members, DataConfig().decode)
    assert e.value.reason == "old-video-layout" and "k.000.jpg" in str(e.value)
    assert "mmcorpus videos convert" in str(e.value)
