"""A sample's media members, sorted into what the export formats need, and the writer that puts them on disk.

`sample_media(members)` splits a sample's `{ext: bytes}` members into stand-alone images (`jpg`, `png`, ...),
video frames in order, and a video container member (an extension in `VIDEO_EXTS`: `mp4`, `mkv`, `avi`, ...).
`video_frames(members)` is the ONE place that knows where a video's frames live.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corpus.tar_members import IMAGE_EXTS, VIDEO_EXTS


@dataclass(frozen=True)
class Member:
    """One member of a sample: its extension (`jpg`, `003.jpg`, `mkv`) and its bytes."""

    ext: str
    data: bytes


@dataclass(frozen=True)
class SampleMedia:
    """A sample's media: `images` (stand-alone, in name order), `frames` (a video's frames in order, `[]` when
    the sample has none or they are only inside `container`), `container` (a video file member, or None)."""

    images: list[Member]
    frames: list[Member]
    container: Member | None

    @property
    def is_video(self) -> bool:
        return bool(self.frames) or self.container is not None


def _is_frame(ext: str) -> bool:
    stem, _, suffix = ext.partition(".")
    return stem.isdigit() and suffix in IMAGE_EXTS


def video_frames(members: dict[str, bytes]) -> list[Member]:
    """The sample's video frames as JPEG members, in presentation order; `[]` when it has none.

    Frames-mode samples of today's layout hold them as numbered members `000.jpg`, `001.jpg`, ... A sample
    whose frames live only inside a container member (`store=original`, and the one-member MJPEG layout)
    returns `[]` here until `corpus.video_member.demux_frames` exists; plugging it in is this function's
    one change: for the container `ext`, return
    `[Member(f"{i:03d}.jpg", jpeg) for i, jpeg in enumerate(demux_frames(members[ext])[0])]`.
    """
    return [Member(e, members[e]) for e in sorted((e for e in members if _is_frame(e)), key=lambda e: int(e.split(".")[0]))]


def sample_media(members: dict[str, bytes]) -> SampleMedia:
    """Sort `members` (as `corpus.tar_members.parse_members` returns them) into a :class:`SampleMedia`."""
    images = [Member(e, members[e]) for e in sorted(IMAGE_EXTS & members.keys())]
    container = next((Member(e, members[e]) for e in sorted(members) if e in VIDEO_EXTS), None)
    return SampleMedia(images, video_frames(members), container)


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
