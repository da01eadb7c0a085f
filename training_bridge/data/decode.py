"""Members of one sample → its record and images, under explicit limits.

`decode_sample(members, limits)` parses `json` into a `SampleRecord` and decodes the images: `jpg`/`jpeg`/
`png`/`webp` (one image) or the frames of a video's `mp4` member (`corpus.video_member.demux_frames`: its
MJPEG packets, in presentation order, at most `max_images`). Images are opened lazily and each header's size
checked against `max_image_pixels` before any pixel is decoded (a decompression bomb costs a header read,
nothing more). Only these formats are decoded; other members are ignored; any other video container, or an
`mp4` that is an original file (`frames.store=original`), makes the sample unusable here
(`video-container`: build corpora in frames mode for training). Every failure raises `SampleError` with a
reason label. Corpora in the old layout of numbered frame members are refused by the loader when indexed
(`corpus.index`), and such a sample here (`old-video-layout`), with the command that converts them.
"""
from __future__ import annotations

import io
import warnings

from PIL import Image

from corpus.tar_members import IMAGE_EXTS, VIDEO_EXTS, SampleError, read_record
from corpus.video_member import demux_frames, is_frame_member, old_layout_error
from schemas.record import SampleRecord
from schemas.video_member import VIDEO_MEMBER_EXT
from training_bridge.data.config import DecodeLimits


def _image(data: bytes, name: str, limits: DecodeLimits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > limits.max_image_pixels:
                raise SampleError("too-many-pixels", f"{name}: {img.width}x{img.height}")
            img.load()
    except SampleError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise SampleError("too-many-pixels", f"{name}: {e}") from e
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError... on corrupt data
        raise SampleError("bad-image", f"{name}: {type(e).__name__}: {e}") from e
    return img


def decode_sample(members: dict[str, bytes], limits: DecodeLimits) -> tuple[SampleRecord, list[Image.Image]]:
    """The record and the images (single image, or a video's frames in order) of one sample."""
    record = read_record(members)
    others = (VIDEO_EXTS - {VIDEO_MEMBER_EXT}) & members.keys()
    if others:
        raise SampleError("video-container", f"{record.key}.{min(others)}: the loader decodes frames members "
                          f"({VIDEO_MEMBER_EXT} of JPEG frames) only, not video files")
    old = sorted(ext for ext in members if is_frame_member(ext))
    if old:  # the loader refuses such corpora when it indexes them; this guards direct callers
        raise SampleError("old-video-layout", old_layout_error(f"sample {record.key}", f"{record.key}.{old[0]}"))
    named: list[tuple[str, bytes]] = []
    if VIDEO_MEMBER_EXT in members:
        name = f"{record.key}.{VIDEO_MEMBER_EXT}"
        jpegs, _ = demux_frames(members[VIDEO_MEMBER_EXT], name, max_frames=limits.max_images)
        named = [(f"{name} frame {i}", j) for i, j in enumerate(jpegs)]
    named += [(f"{record.key}.{ext}", members[ext]) for ext in sorted(IMAGE_EXTS & members.keys())]
    if len(named) > limits.max_images:
        raise SampleError("too-many-images", f"{len(named)} images")
    return record, [_image(data, name, limits) for name, data in named]
