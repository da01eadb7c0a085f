"""Entries for LLaVA's `llava/train/train.py` (`llava`) and LLaVA-NeXT / OneVision's (`llava-onevision`).

Both read `{"id", "image"?, "video"?, "conversations": [{"from": "human"|"gpt", "value"}]}`, with `<image>`
as the media token (`DEFAULT_IMAGE_TOKEN`, also the token of a video), and `os.path.join(image_folder or
video_folder, path)`: absolute paths work with any folder, `--relative` paths need the export folder.

* `llava` (haotian-liu/LLaVA, `LazySupervisedDataset.__getitem__`): `image` is opened as ONE path
  (`Image.open(os.path.join(image_folder, image_file))`), so only single-image samples are written:
  `"image": path`, one `<image>` at the start of the first human turn (where `preprocess_multimodal` moves it).
  Several images → `SampleError("llava_multi_image")`, video → `SampleError("llava_video")`: counted, not
  written. Text-only samples carry no `image` key (the loader's text path).
* `llava-onevision` (LLaVA-VL/LLaVA-NeXT `LazySupervisedDataset._get_item`): `image` is a path or a list of
  paths (`type(image_file) is list`), each matched by one `<image>` token, in order. A video whose sample has
  a container member is `"video": path` (read with decord, frames sampled by `--video_fps` /
  `--frames_upbound`) and ONE `<image>` token, and no `image` key (`image` wins over `video` there). The
  loader steps through a file's frames by `round(avg_fps / video_fps)`, which is 0 (a crash, then another
  sample) when a sampled video's frames are sparser than `MIN_VIDEO_FPS` (a long video: 180 packages over an
  hour): such a video, like one held only as frames, is an image list, one `<image>` per frame.
  Text-only: no `image` key.
"""
from __future__ import annotations

from typing import Any

from corpus.tar_members import SampleError
from pipelines.export.media import SampleMedia, Write
from pipelines.export.turns import MARKER, checked_turns, marker_count, replace_markers, with_media_first
from schemas.record import SampleRecord

TOKEN = "<image>"
MIN_VIDEO_FPS = 0.5  # below it, round(avg_fps / video_fps) is 0 at the loader's default video_fps of 1


def _conversations(turns: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"from": "human" if role == "user" else "gpt", "value": content} for role, content in turns]


def llava_entry(key: str, record: SampleRecord, media: SampleMedia, write: Write) -> dict[str, Any]:
    """One entry of LLaVA 1.5's format (see the module docstring); raises `SampleError` before writing."""
    turns = checked_turns(record)
    if media.is_video:
        raise SampleError("llava_video", "LLaVA's train.py reads one image per sample")
    if len(media.images) > 1:
        raise SampleError("llava_multi_image", f"{len(media.images)} images; LLaVA's train.py reads one")
    entry: dict[str, Any] = {"id": key}
    if media.images:
        if marker_count(turns) > 1:
            raise SampleError("markers", f"{marker_count(turns)} markers for one image")
        turns = [(r, MARKER.sub("", c).strip() if MARKER.search(c) else c) for r, c in turns]
        (role, first), rest = turns[0], turns[1:]
        turns = [(role, f"{TOKEN}\n{first.strip()}")] + rest
        entry["image"] = write(key, media.images[0])
    else:
        replace_markers(turns, [])  # no media: a marker would reach the tokenizer as an image token
    entry["conversations"] = _conversations(turns)
    return entry


def llava_onevision_entry(key: str, record: SampleRecord, media: SampleMedia, write: Write) -> dict[str, Any]:
    """One entry of LLaVA-NeXT / OneVision's format (see the module docstring); raises before writing."""
    turns = checked_turns(record)
    entry: dict[str, Any] = {"id": key}
    sparse = media.frame_rate is not None and media.frame_rate < MIN_VIDEO_FPS
    if media.container is not None and not sparse:
        turns = with_media_first(turns, [TOKEN])
        entry["video"] = write(key, media.container)
    elif media.frames:  # the video's marker (or the first turn) gets one token per frame
        turns = with_media_first(turns, ["\n".join([TOKEN] * len(media.frames))])
        entry["image"] = [write(key, m) for m in media.frames]
    elif media.images:
        turns = with_media_first(turns, [TOKEN] * len(media.images))
        paths = [write(key, m) for m in media.images]
        entry["image"] = paths[0] if len(paths) == 1 else paths
    else:
        replace_markers(turns, [])
    entry["conversations"] = _conversations(turns)
    return entry
