"""Members of one sample → its record and images, under explicit limits.

`decode_sample(members, limits)` parses `json` into a `SampleRecord` and decodes the images: `jpg`/`jpeg`/
`png`/`webp` (one image) or frame members `000.jpg`, `001.jpg`, ... (a video's frames, in frame order).
Images are opened lazily and their header size checked against `max_image_pixels` before any pixel is
decoded (a decompression bomb costs a header read, nothing more). Only these formats are decoded; other
members are ignored, a video container (`mp4`, ...) makes the sample unusable here (build corpora in
frames mode for training). Every failure raises `SampleError` with a reason label.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from corpus.tar_members import IMAGE_EXTS, VIDEO_EXTS, SampleError, read_record
from schemas.record import SampleRecord


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds on what one sample may cost to decode."""

    max_image_pixels: int = 40_000_000  # per image or frame, width x height
    max_images: int = 1080  # images plus frames per sample: the paper's training bound on video frames


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


def _frame_number(ext: str) -> int | None:
    stem, _, fmt = ext.partition(".")
    return int(stem) if stem.isdigit() and fmt in IMAGE_EXTS else None


def decode_sample(members: dict[str, bytes], limits: DecodeLimits) -> tuple[SampleRecord, list[Image.Image]]:
    """The record and the images (single image, or frames in order) of one sample."""
    record = read_record(members)
    if VIDEO_EXTS & members.keys():
        raise SampleError("video-container", "the loader decodes frame members only, not video files")
    frames = sorted((n, ext) for ext in members if (n := _frame_number(ext)) is not None)
    names = [ext for _, ext in frames] + sorted(IMAGE_EXTS & members.keys())
    if len(names) > limits.max_images:
        raise SampleError("too-many-images", f"{len(names)} images")
    images = [_image(members[ext], f"{record.key}.{ext}", limits) for ext in names]
    return record, images
