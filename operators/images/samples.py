"""`ImageSample`: `IMAGE_SCHEMA` rows → `SINK_SCHEMA` samples (`{key}.jpg` + `{key}.json`).

The key is `sample_key(input_id, "image")`, stable across reruns. The record holds the conversation
(see `operators.media_text`), the stored size, and under `meta` the upright original size, the EXIF
orientation applied, the input file's sha256 and the manifest's extra columns. An input without text
is dropped as `filtered` (`no_text`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from operators.base import Operator, Row
from operators.media_sample import media_sample
from operators.media_text import DEFAULT_PROMPTS
from schemas.record import sample_key
from schemas.tables import SINK_SCHEMA

EXT = {"jpeg": "jpg", "png": "png"}


@dataclass
class ImageSampleConfig:
    """Knobs of `ImageSample`."""

    caption_prompt: str = DEFAULT_PROMPTS["image"]  # user turn for caption-only inputs [ours]


class ImageSample(Operator):
    """One sample per image: the re-encoded image and its record."""

    stage = "image_sample"
    reads = ("input_id", "source", "meta_json", "image", "image_format", "width", "height", "orig_width", "orig_height",
             "orig_format", "orientation", "sha256")
    writes = ("key", "members", "task", "noise_level", "width", "height", "text_len")
    output_schema = SINK_SCHEMA

    def __init__(self, config: ImageSampleConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or ImageSampleConfig()

    def process(self, row: Row) -> Iterable[Row]:
        meta = {k: row[k] for k in ("orig_width", "orig_height", "orig_format", "orientation", "sha256")}
        yield media_sample(row, "image", self.cfg.caption_prompt, sample_key(row["input_id"], "image"),
                           [{"ext": EXT[row["image_format"]], "data": row["image"]}], meta)
