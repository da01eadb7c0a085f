"""Probing videos and decoding chosen frames, with decord first and PyAV as the fallback.

Facts these functions are built on (measured, see tests/test_video_ops.py):

- Rotation lives in the stream's display matrix; PyAV reports it per frame as `VideoFrame.rotation`
  (counter-clockwise degrees). PyAV hands out frames as coded (not rotated); `upright(frame, rotation)`
  turns them with `np.rot90(frame, rotation // 90)`.
- Whether decord rotates depends on its build (0.6.0 here does, for 90, 180 and 270). So rather than
  trusting either, `decord_rotation_applied` compares decord's first frame with PyAV's coded one and
  returns what decord already did; the rest is applied by us.
- On a damaged stream decord's `get_batch` fails as a whole; PyAV can skip the bad packets and keep
  every frame that decodes. PyAV frame indices come from presentation timestamps (`pts`), not from
  counting, so frames after a gap keep their true index.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

import numpy as np

log = logging.getLogger(__name__)

Source = str | BinaryIO


@dataclass
class VideoProbe:
    """What sampling needs to know about a video."""

    n_frames: int
    fps: float
    rotation: int  # display rotation, counter-clockwise degrees in {0, 90, 180, 270}
    decoder: str  # which library's frame count and rate these are: "decord" | "pyav"

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps


def _rewind(src: Source) -> Source:
    if isinstance(src, io.IOBase):
        src.seek(0)
    return src


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """A coded frame (H, W, 3) turned by `rotation` degrees counter-clockwise, as displayed."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k)) if k else frame


def display_rotation(src: Source) -> tuple[int, np.ndarray | None]:
    """(rotation in {0, 90, 180, 270}, first coded frame as RGB or None) read with PyAV.

    A file PyAV cannot open or whose first frame does not decode reports rotation 0.
    """
    import av

    try:
        with av.open(_rewind(src)) as c:
            for frame in c.decode(video=0):
                return int(frame.rotation or 0) % 360, frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, StopIteration, IndexError) as e:
        log.debug("no rotation read: %s", e)
    return 0, None


def decord_rotation_applied(decord_frame: np.ndarray, coded: np.ndarray | None, rotation: int) -> int:
    """The rotation decord already applied to its frames: 0 or `rotation`, whichever matches best."""
    if rotation == 0 or coded is None:
        return 0
    best, best_err = 0, float("inf")
    for cand in (0, rotation):
        r = upright(coded, cand)
        if r.shape != decord_frame.shape:
            continue
        err = float(np.abs(r[::4, ::4].astype(np.int16) - decord_frame[::4, ::4].astype(np.int16)).mean())
        if err < best_err:
            best, best_err = cand, err
    return best


def probe_pyav(src: Source) -> tuple[int, float]:
    """(frame count, average fps) from PyAV; counts packets when the container has no frame count."""
    import av

    with av.open(_rewind(src)) as c:
        st = c.streams.video[0]
        rate = st.average_rate or st.guessed_rate or st.base_rate
        if not rate:
            raise ValueError("the video stream has no frame rate")
        n = st.frames or sum(1 for p in c.demux(st) if p.size)
    return int(n), float(rate)


def decode_pyav(src: Source, wanted: list[int], fps: float, threads: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """(index, coded RGB frame) for each of the `wanted` indices that decodes, in stream order.

    The index of a frame is `round((pts - start) * time_base * fps)`; packets that fail to decode are
    skipped; decoding stops after the last wanted index.
    """
    import av

    want = set(wanted)
    last = max(want)
    with av.open(_rewind(src)) as c:
        st = c.streams.video[0]
        st.codec_context.thread_count = threads
        start = st.start_time or 0
        tb = float(st.time_base)
        for count, frame in enumerate(_frames(c, st)):
            idx = round((frame.pts - start) * tb * fps) if frame.pts is not None else count
            if idx in want:
                want.discard(idx)
                yield idx, frame.to_ndarray(format="rgb24")
            if idx >= last or not want:
                return


def _frames(c: Any, st: Any) -> Iterator[Any]:
    """Decoded frames of `st`, skipping packets that fail to decode."""
    import av

    for packet in c.demux(st):
        try:
            frames = packet.decode()
        except av.FFmpegError as e:
            log.debug("skipping a packet that does not decode: %s", e)
            continue
        yield from frames
