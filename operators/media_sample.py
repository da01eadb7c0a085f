"""The sink row of an image or video sample, built one way for both media.

`media_sample(row, media, prompt, key, members, meta, record, stats)`: the input's conversation
(`operators.media_text.sample_conversation`: an input without text is rejected as filtered), a
`SampleRecord` with the row's source, input id and size, `meta` plus the manifest's extra columns, and
`record`'s media fields; members are `members` then `{key}.json`; the stats are task, size, the
assistant's text length and `stats`.
"""
from __future__ import annotations

from typing import Any

from operators.base import Row
from operators.media_text import meta_of, sample_conversation
from schemas.record import SampleRecord


def media_sample(row: Row, media: str, prompt: str, key: str, members: list[dict[str, Any]], meta: dict[str, Any],
                 record: dict[str, Any] | None = None, stats: dict[str, Any] | None = None) -> Row:
    """One `SINK_SCHEMA` row; see the module docstring."""
    given = meta_of(row)
    task, turns = sample_conversation(given, media, prompt)
    if "extra" in given:
        meta = {**meta, "extra": given["extra"]}
    rec = SampleRecord(key=key, task=task, conversations=turns, source=row["source"], input_id=row["input_id"],
                       width=row["width"], height=row["height"], meta=meta, **(record or {}))
    return dict(key=key, members=[*members, {"ext": "json", "data": rec.to_json()}], task=task, noise_level="none",
                width=row["width"], height=row["height"],
                text_len=sum(len(t.content) for t in turns if t.role == "assistant"), **(stats or {}))
