"""ImageSignatures: an image input → its dedup signature row, for the dedup decision (`pipelines.dedup.images`).

Contract: one row of `IMAGE_SIGNATURE_SCHEMA` per input that could be kept by the build: readable (not a
bomb, not truncated), its upright size passing the size filter (`ImageFilterConfig`), with text (a caption
or conversation); other inputs get none (the build quarantines or filters them itself), so only images
that could be kept compete. The row: `exact`, the first 64 bits of the file's sha256, and `phash`, the
64-bit pHash of the upright image decoded at reduced scale (`operators.images.ops.fingerprint`: a JPEG is
decoded at 1/2 to 1/8 scale, never fully; the values are those of the former fingerprint pass).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from operators.base import Operator, Row
from operators.images.ops import ImageFilterConfig, fingerprint, size_verdict
from operators.media_io import read_source
from operators.media_text import conversation_from_meta, meta_of
from schemas.tables import IMAGE_SIGNATURE_SCHEMA


@dataclass
class FingerprintConfig:
    """Knobs of reading an image for its signature."""

    max_bytes: int = 64 << 20
    max_source_pixels: int = 89_478_485


@dataclass
class ImageSignatureConfig:
    """What decides which inputs get a signature, and how it is read."""

    fingerprint: FingerprintConfig = field(default_factory=FingerprintConfig)
    filter: ImageFilterConfig = field(default_factory=ImageFilterConfig)

    #: what makes two images' signatures comparable (recorded in every signature file)
    KNOBS = "sha256[:64] phash=8x8 draft=64"

    def made_with(self) -> str:
        """What else a signature file depends on: which inputs pass the size filter."""
        return f"min_side={self.filter.min_side} max_aspect={self.filter.max_aspect}"


def has_text(row: Row) -> bool:
    """True when the input carries a caption or conversation (the build makes a sample of it)."""
    try:
        conversation_from_meta(meta_of(row), "image")
    except ValueError:
        return False
    return True


class ImageSignatures(Operator):
    """Input rows → `IMAGE_SIGNATURE_SCHEMA` rows of the images that could be kept; see the module docstring."""

    stage = "image_signature"
    reads = ("source", "meta_json")
    writes = ("exact", "phash")
    output_schema = IMAGE_SIGNATURE_SCHEMA

    def __init__(self, config: ImageSignatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or ImageSignatureConfig()

    def process(self, row: Row) -> Iterable[Row]:
        if not has_text(row):
            return
        sha, ph, w, h = fingerprint(read_source(row["source"], self.cfg.fingerprint.max_bytes),
                                    self.cfg.fingerprint.max_source_pixels)
        if size_verdict(w, h, self.cfg.filter)[0]:
            yield dict(exact=int(sha[:16], 16), phash=ph)
