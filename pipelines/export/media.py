"""A sample's media members, sorted into what the export formats need, and the writer that puts them on disk.

`sample_media(members)` splits a sample's `{ext: bytes}` members into stand-alone images (`jpg`, `png`, ...),
video frames in order, and a video container member (an extension in `VIDEO_EXTS`: `mp4`, `mkv`, `avi`, ...).
`video_frames(members)` is the ONE place that knows where a video's frames live: inside the sample's
`{key}.mp4` member (`corpus.video_member`), the MJPEG stream of the JPEG frames the build chose.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corpus.tar_members import IMAGE_EXTS, VIDEO_EXTS, SampleError
from corpus.video_member import demux_frames
from schemas.video_member import VIDEO_MEMBER_EXT


@dataclass(frozen=True)
class Member:
    """One member of a sample: its extension (`jpg`, `003.jpg`, `mkv`) and its bytes."""

    ext: str
    data: bytes


@dataclass(frozen=True)
class SampleMedia:
    """A sample's media: `images` (stand-alone, in name order), `frames` (a video's frames in order, `[]` when
    the sample has none or its container is an original file), `frame_times` (their presentation times,
    seconds), `container` (a video file member, or None)."""

    images: list[Member]
    frames: list[Member]
    frame_times: list[float]
    container: Member | None

    @property
    def frame_rate(self) -> float | None:
        """Frames per second over the span of `frame_times` (what decord reports as the average rate)."""
        span = self.frame_times[-1] - self.frame_times[0] if len(self.frame_times) > 1 else 0.0
        return (len(self.frame_times) - 1) / span if span > 0 else None

    @property
    def is_video(self) -> bool:
        return bool(self.frames) or self.container is not None


def video_frames(members: dict[str, bytes]) -> tuple[list[Member], list[float]]:
    """The sample's video frames as JPEG members in presentation order, and their times; `([], [])` when it
    has no `{key}.mp4` frames member or that member is an original file (not MJPEG frames)."""
    if VIDEO_MEMBER_EXT not in members:
        return [], []
    try:
        jpegs, times = demux_frames(members[VIDEO_MEMBER_EXT], f"{VIDEO_MEMBER_EXT} member")
    except SampleError as e:
        if e.reason == "video-container":  # an original file stored whole (frames.store=original)
            return [], []
        raise
    return [Member(f"{i:03d}.jpg", j) for i, j in enumerate(jpegs)], times


def sample_media(members: dict[str, bytes]) -> SampleMedia:
    """Sort `members` (as `corpus.tar_members.parse_members` returns them) into a :class:`SampleMedia`."""
    images = [Member(e, members[e]) for e in sorted(IMAGE_EXTS & members.keys())]
    container = next((Member(e, members[e]) for e in sorted(members) if e in VIDEO_EXTS), None)
    frames, times = video_frames(members)
    return SampleMedia(images, frames, times, container)


#: What an entry builder calls to put a member on disk: `write(key, member) -> the path the JSON names`.
Write = Callable[[str, Member], str]


class MediaWriter:
    """Writes members as `OUT/media/{key[:2]}/{key}.{ext}` and returns the path the JSON names (absolute, or
    relative to OUT with `relative`); `files` counts what it wrote."""

    def __init__(self, out: Path, relative: bool) -> None:
        self.root, self.relative, self.files = out.resolve(), relative, 0
        self._made: set[str] = set()

    def __call__(self, key: str, member: Member) -> str:
        sub = f"media/{key[:2]}"
        if sub not in self._made:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            self._made.add(sub)
        name = f"{sub}/{key}.{member.ext}"
        with open(self.root / name, "wb") as f:
            f.write(member.data)
        self.files += 1
        return name if self.relative else str(self.root / name)
