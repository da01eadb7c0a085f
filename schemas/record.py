"""The sample record stored as `{key}.json` in every tar: the contract with every trainer."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from schemas.tables import SCHEMA_VERSION

#: Tasks a sample can train.
TASK_OCR = "ocr"  # light noise: read the region
TASK_VISUAL_CONTEXT = "reconstruct"  # medium noise: visual cues + context
TASK_KNOWLEDGE = "infer_masked"  # masked: infer from context and knowledge
TASK_TRANSCRIBE = "transcribe_page"  # clean page, full text in reading order
TASK_CAPTION = "caption"
TASK_CONVERSATION = "conversation"
TASK_VIDEO_CAPTION = "video_caption"
TASK_VIDEO_QA = "video_qa"



def sample_key(*parts: object) -> str:
    """A stable, dot-free key for a sample from its identity (source id, page/clip, region, variant)."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode("utf-8"), digest_size=10)
    return h.hexdigest()


def _plain(value: Any) -> Any:
    """`value` as JSON-ready builtins: `dataclasses.asdict` without its deep copies (~0.3 ms a sample)."""
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class Turn:
    """One conversation turn in the MiniCPM-V finetune format."""

    role: str  # "user" | "assistant"
    content: str


@dataclass
class CorruptedRegion:
    """A region that was corrupted in the image; its original text is the target. `glyph_px` (the em
    in pixels the corruption was scaled to) and `params` (the family's effective parameters: sigma,
    radius, cell, scale, quality) are absent (None) in records written before they existed."""

    bbox: list[float]
    text: str
    level: str
    family: str
    strength: float
    glyph_px: float | None = None
    params: dict[str, float] | None = None


@dataclass
class SampleRecord:
    """`{key}.json`: task, conversation, provenance and every knob that produced the sample."""

    key: str
    task: str
    conversations: list[Turn]
    source: str
    input_id: str
    page: int | None = None
    width: int | None = None
    height: int | None = None
    regions: list[CorruptedRegion] = field(default_factory=list)
    noise_level: str = "none"
    frame_timestamps: list[float] | None = None
    temporal_ids: list[list[int]] | None = None
    frame_indices: list[int] | None = None
    fps: float | None = None
    duration: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        """Canonical JSON bytes (sorted keys) so equal records give equal bytes."""
        return json.dumps(_plain(self), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @staticmethod
    def from_json(data: bytes | str) -> "SampleRecord":
        """Parse a `{key}.json` member back into a record."""
        d = json.loads(data)
        d["conversations"] = [Turn(**t) for t in d.get("conversations", [])]
        d["regions"] = [CorruptedRegion(**r) for r in d.get("regions", [])]
        return SampleRecord(**d)
