"""`VideoSample`: `VIDEO_SCHEMA` rows → `SINK_SCHEMA` samples.

Members: `{key}.mp4` (the sampled JPEG frames muxed unchanged into one MJPEG stream, presented at their
timestamps: `corpus.video_member`, `schemas.video_member`) or `{key}.{ext}` (the original file,
`store="original"`), then `{key}.json`. The record carries the conversation (`<video>` placeholder), `frame_indices`,
`frame_timestamps` (seconds), `temporal_ids` (one list per package, the 3D-Resampler's input), `fps` and
`duration`; `meta` holds the packing, policy, rotation, decoder, frames lost and how frames are stored.
The key is `sample_key(input_id, "video", policy)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from corpus.video_member import mux_frames
from operators.base import Operator, Row
from operators.media_sample import media_sample
from operators.media_text import DEFAULT_PROMPTS
from schemas.record import sample_key
from schemas.tables import SINK_SCHEMA
from schemas.video_member import VIDEO_MEMBER_EXT


@dataclass
class VideoSampleConfig:
    """Knobs of `VideoSample`."""

    caption_prompt: str = DEFAULT_PROMPTS["video"]  # user turn for caption-only inputs [ours]


class VideoSample(Operator):
    """One sample per video: its frames (or file) and its record."""

    stage = "video_sample"
    reads = ("input_id", "source", "meta_json", "frames", "video", "video_ext", "frame_indices", "timestamps",
             "packages", "packing", "policy", "fps", "n_frames_total", "duration", "width", "height", "rotation",
             "decoder", "n_missing")
    writes = ("key", "members", "task", "noise_level", "width", "height", "n_frames", "duration", "text_len")
    output_schema = SINK_SCHEMA

    def __init__(self, config: VideoSampleConfig | None = None) -> None:
        super().__init__()
        self.cfg = config or VideoSampleConfig()

    def process(self, row: Row) -> Iterable[Row]:
        frames = row["frames"]
        store = "frames" if frames is not None else "original"
        meta = {k: row[k] for k in ("packing", "policy", "rotation", "decoder", "n_missing", "n_frames_total")}
        if store == "frames":
            member = {"ext": VIDEO_MEMBER_EXT, "data": mux_frames(frames, row["timestamps"])}
        else:
            member = {"ext": row["video_ext"], "data": row["video"]}
        record = dict(frame_timestamps=row["timestamps"], temporal_ids=row["packages"],
                      frame_indices=row["frame_indices"], fps=row["fps"], duration=row["duration"])
        yield media_sample(row, "video", self.cfg.caption_prompt, sample_key(row["input_id"], "video", row["policy"]),
                           [member], {**meta, "store": store}, record,
                           dict(n_frames=len(row["frame_indices"]), duration=row["duration"]))
