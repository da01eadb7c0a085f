"""JPEG frames ⇄ the `{key}.mp4` member of a video sample (`schemas.video_member`), without re-encoding.

- `mux_frames(jpegs, timestamps)` writes the frames as the packets of one MJPEG stream, each packet the
  exact JPEG bytes given, its presentation time the timestamp rounded to `TIME_BASE`. The bytes depend on
  the frames and timestamps alone (bitexact muxer: no creation time, no library version string), so the
  same frames give the same member in any process on any machine.
- `demux_frames(data, name, max_frames, max_bytes)` gives back `(jpegs, timestamps)`: the packets, byte
  for byte, and their presentation times in seconds. It raises `SampleError` with a reason, never anything
  else: `member-too-large`, `too-many-images` (more than `max_frames` packets, counted before reading on),
  `video-container` (a stream that is not MJPEG: an original file stored with `frames.store=original`),
  `bad-video` (unreadable or empty). Pixels are not decoded here: callers decode each JPEG under their own
  pixel limits.
- `is_frame_member(ext)` recognises the numbered frame members of the old layout (`000.jpg`, ...);
  `old_layout_error(where, name)` is the one line that refuses such a corpus and names the converter.
"""
from __future__ import annotations

import io
import re
from collections.abc import Sequence
from itertools import pairwise

import av
from PIL import Image

from corpus.tar_members import SampleError
from schemas.video_member import (
    CONVERT_COMMAND,
    MAX_FRAMES,
    MUX_OPTIONS,
    TIME_BASE,
    VIDEO_MEMBER_CODEC,
    VIDEO_MEMBER_EXT,
    VIDEO_MEMBER_FORMAT,
)

#: The extension of a frame member in the old layout; `OLD_FRAME_NAME` finds one in a member name.
OLD_FRAME_EXT = r"\d{3,}\.jpg"  # zero-padded to at least 3 digits, as the old writer named them
OLD_FRAME_NAME = r"\." + OLD_FRAME_EXT + "$"


def is_frame_member(ext: str) -> bool:
    """True for a numbered frame member of the old video layout: `000.jpg`, `001.jpg`, ..., `1079.jpg` (never `1.jpg`: a second image)."""
    return re.fullmatch(OLD_FRAME_EXT, ext) is not None


def old_layout_error(where: str, name: str) -> str:
    """The one-line refusal of a corpus in the old layout, `name` one of its frame members."""
    return (f"{where} stores video frames as numbered members ({name}), the layout before one "
            f"{{key}}.{VIDEO_MEMBER_EXT} per video; convert it: {CONVERT_COMMAND}")


def _pts(timestamps: Sequence[float]) -> list[int]:
    """The timestamps (seconds) in `TIME_BASE` ticks; ValueError unless >= 0 and increasing at that resolution."""
    pts = [round(t / TIME_BASE) for t in timestamps]
    if pts[0] < 0:
        raise ValueError(f"frame timestamps must be >= 0 and increase: the first is {timestamps[0]} s")
    for i, (a, b) in enumerate(pairwise(pts)):
        if b <= a:
            raise ValueError(f"frame timestamps must be >= 0 and increase: frame {i + 1} at {timestamps[i + 1]} s "
                             f"after {timestamps[i]} s")
    return pts


def mux_frames(jpegs: Sequence[bytes], timestamps: Sequence[float]) -> bytes:
    """One MP4 holding `jpegs` as MJPEG packets unchanged, presented at `timestamps` (seconds, increasing)."""
    if not jpegs or len(jpegs) != len(timestamps):
        raise ValueError(f"need one timestamp per frame and at least one frame: {len(jpegs)} frames, "
                         f"{len(timestamps)} timestamps")
    pts = _pts(timestamps)
    with Image.open(io.BytesIO(jpegs[0])) as first:  # the header only: the stream's declared size
        width, height = first.size
    buf = io.BytesIO()
    with av.open(buf, "w", format=VIDEO_MEMBER_FORMAT, container_options=MUX_OPTIONS) as out:
        stream = out.add_stream(VIDEO_MEMBER_CODEC)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        stream.time_base = TIME_BASE
        for data, t in zip(jpegs, pts):
            packet = av.Packet(data)
            packet.stream, packet.time_base = stream, TIME_BASE
            packet.pts = packet.dts = t
            packet.is_keyframe = True
            out.mux(packet)
    return buf.getvalue()


def demux_frames(data: bytes, name: str, max_frames: int = MAX_FRAMES,
                 max_bytes: int | None = None) -> tuple[list[bytes], list[float]]:
    """The JPEG bytes and timestamps (seconds) muxed into `data` (member `name`), checked as the module says."""
    if max_bytes is not None and len(data) > max_bytes:
        raise SampleError("member-too-large", f"{name}: {len(data)} bytes > {max_bytes}")
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.video:
                raise SampleError("bad-video", f"{name}: no video stream")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec != VIDEO_MEMBER_CODEC:
                raise SampleError("video-container", f"{name} holds {codec}, not frames: an original file "
                                  "(build with --set frames.store=frames to train on its frames)")
            if stream.frames > max_frames:
                raise SampleError("too-many-images", f"{name}: {stream.frames} frames > {max_frames}")
            jpegs, times = [], []
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream flush packet
                    continue
                if len(jpegs) == max_frames:
                    raise SampleError("too-many-images", f"{name}: more than {max_frames} frames")
                if packet.pts is None:
                    raise SampleError("bad-video", f"{name}: frame {len(jpegs)} has no timestamp")
                jpegs.append(bytes(packet))
                times.append(float(packet.pts * packet.time_base))
    except SampleError:
        raise
    except Exception as e:  # libav raises its own error classes, OSError or ValueError on damaged data
        raise SampleError("bad-video", f"{name}: {type(e).__name__}: {e}") from e
    if not jpegs:
        raise SampleError("bad-video", f"{name}: no frames")
    return jpegs, times
