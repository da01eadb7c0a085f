"""The record's conversation as every export format needs it: checked turns and its media markers.

Records mark media with `<image>` / `<video>` (or MiniCPM-V's `(<image>./</image>)` / `(<video>./</video>)`).
All three target loaders need a conversation that opens with the user and alternates user / assistant (LLaVA's
`preprocess_*` asserts `role == conv.roles[j % 2]`; MiniCPM-V's `preprocess` asserts the first role is `user`
and `conversation_to_ids_qwen2` asserts every role is `user` or `assistant` and one is `assistant`).
"""
from __future__ import annotations

import re

from corpus.tar_members import SampleError
from schemas.record import SampleRecord

MARKER = re.compile(r"\(<image>\./</image>\)|\(<video>\./</video>\)|<image>|<video>")


def checked_turns(record: SampleRecord) -> list[tuple[str, str]]:
    """`[(role, content), ...]`; `SampleError("turns")` unless roles go user, assistant, user, ... with at
    least one assistant turn (a conversation every target loader accepts)."""
    turns = [(t.role, t.content) for t in record.conversations]
    roles = [r for r, _ in turns]
    expected = [("user", "assistant")[i % 2] for i in range(len(roles))]
    if roles != expected or "assistant" not in roles:
        raise SampleError("turns", f"roles {roles[:6]} do not alternate user/assistant from a user turn")
    return turns


def marker_count(turns: list[tuple[str, str]]) -> int:
    """How many media markers the conversation holds."""
    return sum(len(MARKER.findall(content)) for _, content in turns)


def replace_markers(turns: list[tuple[str, str]], texts: list[str]) -> list[tuple[str, str]]:
    """Each marker in order → the next of `texts`; `SampleError("markers")` when the counts differ."""
    it = iter(texts)
    missing = object()

    def repl(_: re.Match) -> str:
        text = next(it, missing)
        if text is missing:
            raise SampleError("markers", f"more media markers than the {len(texts)} media of the sample")
        return text

    out = [(role, MARKER.sub(repl, content)) for role, content in turns]
    if next(it, missing) is not missing:
        raise SampleError("markers", f"{len(texts)} media but fewer markers in the conversation")
    return out


def with_media_first(turns: list[tuple[str, str]], texts: list[str]) -> list[tuple[str, str]]:
    """`texts` (one per medium) on their own lines before the first user turn's text, when the conversation
    has no marker; otherwise each marker becomes the next of `texts` (`replace_markers`)."""
    if marker_count(turns):
        return replace_markers(turns, texts)
    (role, content), rest = turns[0], turns[1:]
    return [(role, "\n".join([*texts, content]))] + rest
