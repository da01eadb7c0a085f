"""Entries for the official MiniCPM-V finetune loader (OpenBMB MiniCPM-V `finetune/dataset.py`).

`SupervisedDataset.__getitem__` reads `entry["image"]` for every entry: a `str` is the one image, named
`<image>` in the first turn; a `dict` maps names `<image_NN>` (written in the text) to paths. It has no video
input, and any error (a missing `image` key included) makes it silently return a random other sample.
So every entry written here is `{"id", "image", "conversations": [{"role", "content"}]}` with:

* one image, its marker (if any) in the first turn: `"image": path`, `<image>` in the text;
* several images, or one whose marker sits in a later turn: `{"<image_00>": path, ...}`, each marker the
  `<image_NN>` of the next image (no marker: the names on their own lines before the first user text);
* a video: its frames as images `<image_00>`... (the video's marker becomes the run of names, one per line),
  plus the frame policy the loader ignores (`temporal_ids`, `frame_indices`, `frame_timestamps`, `fps`);
  the frames come out of the sample's `{key}.mp4` member byte for byte; a video stored as its original file
  (`frames.store=original`) has no frames to list: `SampleError("minicpmv_video_container")`;
* text only: `"image": {}` (a dict with no names: the loader's multi-image path with no image).

An entry whose token count (`MiniCPMVLength`) exceeds `max_length` would be truncated by the loader or
swapped for another sample: it is `SampleError("over_max_length")`, named in a warning, not written.
"""
from __future__ import annotations

import io
import logging
from typing import Any

from PIL import Image

from corpus.tar_members import SampleError
from pipelines.export.media import Member, SampleMedia, Write
from pipelines.export.minicpmv_length import MiniCPMVLength
from pipelines.export.turns import MARKER, checked_turns, marker_count, replace_markers, with_media_first
from schemas.record import SampleRecord

log = logging.getLogger(__name__)


def _size(member: Member) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(member.data)) as im:  # reads the header only
            return im.size
    except Exception as e:
        raise SampleError("bad-image", f"{member.ext}: {type(e).__name__}: {e}") from e


def _named(turns: list[tuple[str, str]], media: SampleMedia) -> tuple[list[tuple[str, str]], list[str]]:
    """The turns with the loader's image names in place, and those names (`["<image>"]`, `<image_NN>`s, [])."""
    if media.is_video:
        names = [f"<image_{i:02d}>" for i in range(len(media.frames))]
        return with_media_first(turns, ["\n".join(names)]), names
    if not media.images:
        return replace_markers(turns, []), []
    later = any(MARKER.search(c) for _, c in turns[1:])
    if len(media.images) == 1 and not later:
        return (replace_markers(turns, ["<image>"]) if marker_count(turns) else turns), ["<image>"]
    names = [f"<image_{i:02d}>" for i in range(len(media.images))]
    return with_media_first(turns, names), names


class MiniCPMVEntries:
    """`entries(key, record, media, write)` → one official finetune entry (module docstring), or SampleError."""

    def __init__(self, length: MiniCPMVLength) -> None:
        self.length = length

    def __call__(self, key: str, record: SampleRecord, media: SampleMedia, write: Write) -> dict[str, Any]:
        turns = checked_turns(record)
        if media.container is not None and not media.frames:
            raise SampleError("minicpmv_video_container", f"{key}.{media.container.ext} is the original video file "
                              "(frames.store=original) and the finetune loader reads frames as images; build the "
                              "corpus with frames.store=frames to export it")
        images = media.frames if media.is_video else media.images
        turns, names = _named(turns, media)
        conversations = [{"role": role, "content": content} for role, content in turns]
        sizes = {name: _size(m) for name, m in zip(names, images)}
        tokens = self.length.count(sizes, conversations)
        if tokens > self.length.config.max_length:
            how = "tokens" if self.length.exact else "tokens at most (upper bound; --tokenizer counts exactly)"
            log.warning("%s: %d %s over --max-length %d, not written", key, tokens, how,
                        self.length.config.max_length)
            raise SampleError("over_max_length", f"{tokens} > {self.length.config.max_length}")
        entry: dict[str, Any] = {"id": key}
        paths = [write(key, m) for m in images]
        entry["image"] = paths[0] if names == ["<image>"] else dict(zip(names, paths))
        if record.temporal_ids:
            entry.update(temporal_ids=record.temporal_ids, frame_indices=record.frame_indices,
                         frame_timestamps=record.frame_timestamps, fps=record.fps)
        entry["conversations"] = conversations
        return entry
