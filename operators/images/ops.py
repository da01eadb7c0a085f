"""Image operators: decode and verify, EXIF orientation, bomb guard, resize to the pixel budget, re-encode,
size/aspect filter and the perceptual fingerprint that deduplication compares.

Pure functions do the work (`open_checked`, `fit_within`, `decode_image`, `encode_image`,
`size_verdict`, `fingerprint`); the operator classes wrap them for the pipeline:

- `ImageDecode` (input rows → `IMAGE_SCHEMA`): read the file, refuse bombs (pixel count from the header,
  before any pixel is decoded), decode fully (truncated files fail here), apply the EXIF orientation,
  resize so that width x height <= `max_pixels` keeping the aspect ratio (~1.8 MP = 1344², the most
  MiniCPM-V 4.5 slices: 9 x 448²), and re-encode. Unreadable, truncated and bomb images are quarantined.
- `ImageFilter` (`IMAGE_SCHEMA` → same): drops images whose upright original is too small or too
  elongated (category `filtered`).

`fingerprint` (sha256 and a 64-bit pHash of the upright image, decoded at reduced scale) is what
`operators.images.signature.ImageSignatures` writes for the dedup decision.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Iterable

import imagehash
from PIL import Image, ImageOps

from corpus.config_types import AT_LEAST_ONE, JPEG_QUALITY, bounded
from operators.base import Filter, Operator, Reject, Row
from operators.media_io import fit_within, read_source
from schemas.tables import IMAGE_SCHEMA, QUARANTINE

#: ~1.8 MP: up to 9 slices of 448² (the paper's image budget; the released `image_processing_minicpmv.py`).
PIXEL_BUDGET = 1344 * 1344
EXIF_ORIENTATION = 0x0112
TRANSPOSING = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass
class ImageDecodeConfig:
    """Knobs of `ImageDecode`."""

    max_bytes: int = 64 << 20  # input files above this are quarantined
    max_source_pixels: int = 89_478_485  # decompression-bomb guard on the header size (Pillow's own limit)
    max_pixels: int = bounded(PIXEL_BUDGET, AT_LEAST_ONE)  # resize budget: width x height after resizing
    format: str = "jpeg"  # re-encode as "jpeg" or "png"
    quality: int = bounded(95, JPEG_QUALITY)  # JPEG quality
    keep_original_jpeg: bool = True  # an upright RGB JPEG within budget keeps its bytes (no generation loss)


@dataclass
class ImageFilterConfig:
    """Knobs of `ImageFilter` [ours]: bounds on the upright original size."""

    min_side: int = 32
    max_aspect: float = 16.0  # long side / short side


@dataclass
class DecodedImage:
    """An upright RGB image within budget, with what was done to it."""

    image: Image.Image
    orig_width: int  # upright, before resizing
    orig_height: int
    orig_format: str
    orig_mode: str
    orientation: int


def open_checked(data: bytes, max_source_pixels: int) -> Image.Image:
    """Open `data` lazily after `verify()`, refusing more than `max_source_pixels` pixels.

    Raises `Reject` (quarantine) for unreadable data and bombs; nothing is decoded yet.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data))
            w, h = probe.size
            if w * h > max_source_pixels:
                raise Reject(f"{w}x{h} = {w * h} pixels, over the {max_source_pixels} pixel guard",
                             QUARANTINE, "decompression_bomb")
            probe.verify()
            return Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as e:
            raise Reject(str(e), QUARANTINE, "decompression_bomb") from e
        except Image.UnidentifiedImageError as e:
            raise Reject("not a readable image", QUARANTINE, "unreadable_image") from e


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def decode_image(data: bytes, cfg: ImageDecodeConfig) -> DecodedImage:
    """Decode `data` fully, upright (EXIF), RGB (alpha on white), within `cfg.max_pixels`."""
    img = open_checked(data, cfg.max_source_pixels)
    fmt, mode = (img.format or "unknown").lower(), img.mode
    orientation = int(img.getexif().get(EXIF_ORIENTATION, 1) or 1)
    w, h = img.size
    tw, th = fit_within(w, h, cfg.max_pixels)
    if (tw, th) != (w, h) and fmt == "jpeg":
        img.draft("RGB", (tw, th))  # let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the target
    try:
        img.load()
    except OSError as e:  # truncated or corrupt pixel data
        raise Reject(f"cannot decode: {e}", QUARANTINE, "corrupt_image") from e
    img = ImageOps.exif_transpose(img) if orientation != 1 else img
    upright = (h, w) if orientation in TRANSPOSING else (w, h)
    target = (th, tw) if orientation in TRANSPOSING else (tw, th)
    img = _to_rgb(img)
    if img.size != target:
        img = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return DecodedImage(img, upright[0], upright[1], fmt, mode, orientation)


def encode_image(img: Image.Image, fmt: str, quality: int) -> bytes:
    """`img` as JPEG (`quality`) or PNG bytes."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.save(buf, format="JPEG", quality=quality)
    elif fmt == "png":
        img.save(buf, format="PNG")
    else:
        raise ValueError(f"unknown image format {fmt!r}; use 'jpeg' or 'png'")
    return buf.getvalue()


def size_verdict(width: int, height: int, cfg: ImageFilterConfig) -> tuple[bool, str]:
    """(True, "") when an upright `width` x `height` image passes the filter, else (False, reason)."""
    if min(width, height) < cfg.min_side:
        return False, f"{width}x{height}: a side is below {cfg.min_side} px"
    aspect = max(width, height) / min(width, height)
    if aspect > cfg.max_aspect:
        return False, f"{width}x{height}: aspect ratio {aspect:.1f} above {cfg.max_aspect}"
    return True, ""


def fingerprint(data: bytes, max_source_pixels: int) -> tuple[str, int, int, int]:
    """(sha256 hex, 64-bit pHash, upright width, upright height) of image bytes.

    The pHash is computed on the upright image decoded at reduced scale (JPEG draft), so it is cheap and
    the same image saved at another size or quality hashes within a few bits.
    """
    sha = hashlib.sha256(data).hexdigest()
    img = open_checked(data, max_source_pixels)
    orientation = int(img.getexif().get(EXIF_ORIENTATION, 1) or 1)
    w, h = img.size
    img.draft("RGB", (64, 64))
    try:
        img.load()
    except OSError as e:
        raise Reject(f"cannot decode: {e}", QUARANTINE, "corrupt_image") from e
    img = ImageOps.exif_transpose(img) if orientation != 1 else img
    upright = (h, w) if orientation in TRANSPOSING else (w, h)
    ph = int(str(imagehash.phash(_to_rgb(img), hash_size=8)), 16)
    return sha, ph, upright[0], upright[1]


class ImageDecode(Operator):
    """Input rows → `IMAGE_SCHEMA`: decoded, verified, upright, within budget, re-encoded."""

    stage = "image_decode"
    reads = ("source",)
    reads_if_present = ("meta_json",)
    writes = ("meta_json", "image", "image_format", "width", "height", "orig_width", "orig_height", "orig_format",
              "orientation", "sha256")
    output_schema = IMAGE_SCHEMA

    def __init__(self, config: ImageDecodeConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or ImageDecodeConfig()

    def process(self, row: Row) -> Iterable[Row]:
        data = read_source(row["source"], self.cfg.max_bytes)
        dec = decode_image(data, self.cfg)
        w, h = dec.image.size
        passthrough = (
            self.cfg.keep_original_jpeg and self.cfg.format == "jpeg" and dec.orig_format == "jpeg"
            and dec.orientation == 1 and (w, h) == (dec.orig_width, dec.orig_height)
            and dec.orig_mode == "RGB"
        )
        yield dict(
            meta_json=row.get("meta_json"),
            image=data if passthrough else encode_image(dec.image, self.cfg.format, self.cfg.quality),
            image_format=self.cfg.format,
            width=w,
            height=h,
            orig_width=dec.orig_width,
            orig_height=dec.orig_height,
            orig_format=dec.orig_format,
            orientation=dec.orientation,
            sha256=hashlib.sha256(data).hexdigest(),
        )


class ImageFilter(Filter):
    """Drops images whose upright original size fails `size_verdict`."""

    stage = "image_filter"
    reads = ("orig_width", "orig_height")
    output_schema = IMAGE_SCHEMA

    def __init__(self, config: ImageFilterConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or ImageFilterConfig()

    def keep(self, row: Row) -> tuple[bool, str]:
        return size_verdict(row["orig_width"], row["orig_height"], self.cfg)
