"""The text of an image or video sample: a conversation in the MiniCPM-V finetune format.

`conversation_from_meta(meta, media)` turns an input's `meta` (from `operators.manifest_inputs`) into
`(task, turns)`:

- `conversations`: turns as `{"role", "content"}` (MiniCPM-V) or `{"from", "value"}` (LLaVA; human/gpt);
- `qa`: a list of `{"question", "answer"}` (or `q`/`a`) pairs, one turn pair each;
- `question` + `answer`: one pair;
- `caption`: the configured prompt, answered by the caption.

The first user turn carries the media placeholder (`<image>` or `<video>`) exactly once: it is
prepended, followed by a newline, when missing. Raises `ValueError` when meta has no usable text.
"""
from __future__ import annotations

import json
from typing import Any

from operators.base import Reject
from schemas.record import TASK_CAPTION, TASK_CONVERSATION, TASK_VIDEO_CAPTION, TASK_VIDEO_QA, Turn
from schemas.tables import FILTERED

PLACEHOLDERS = {"image": "<image>", "video": "<video>"}
USER_ROLES = {"user", "human"}
ASSISTANT_ROLES = {"assistant", "gpt", "model", "bot"}
DEFAULT_PROMPTS = {"image": "Describe this image.", "video": "Describe this video."}  # [ours]


def _turn(t: Any) -> Turn:
    if not isinstance(t, dict):
        raise ValueError(f"a conversation turn must be an object, got {t!r}")
    role = str(t.get("role", t.get("from", ""))).lower()
    content = t.get("content", t.get("value"))
    if role in USER_ROLES:
        role = "user"
    elif role in ASSISTANT_ROLES:
        role = "assistant"
    else:
        raise ValueError(f"unknown conversation role {role!r}")
    if not isinstance(content, str):
        raise ValueError(f"turn content must be text, got {content!r}")
    return Turn(role=role, content=content)


def _qa_turns(pairs: Any) -> list[Turn]:
    if isinstance(pairs, dict):
        pairs = [pairs]
    turns = []
    for p in pairs:
        q, a = p.get("question", p.get("q")), p.get("answer", p.get("a"))
        if not isinstance(q, str) or not isinstance(a, str):
            raise ValueError(f"a question-answer pair needs text 'question' and 'answer', got {p!r}")
        turns += [Turn("user", q), Turn("assistant", a)]
    return turns


def with_placeholder(turns: list[Turn], media: str) -> list[Turn]:
    """Turns where the first user turn holds the media placeholder once, and no other turn does."""
    ph = PLACEHOLDERS[media]
    out = [Turn(t.role, t.content) for t in turns]
    users = [t for t in out if t.role == "user"]
    if not users:
        raise ValueError("a conversation needs a user turn")
    for t in users[1:]:
        t.content = t.content.replace(ph + "\n", "").replace(ph, "")
    first = users[0]
    if ph not in first.content:
        first.content = f"{ph}\n{first.content}"
    elif first.content.count(ph) > 1:
        raise ValueError(f"the first user turn holds {first.content.count(ph)} {ph} placeholders; one is supported")
    if out[-1].role != "assistant":
        raise ValueError("a conversation must end with an assistant turn")
    return out


def sample_conversation(meta: dict[str, Any], media: str, prompt: str | None = None) -> tuple[str, list[Turn]]:
    """`conversation_from_meta` for a sample operator: an input without usable text is dropped with
    `Reject` (category filtered, error_type "no_text") and the reason."""
    try:
        return conversation_from_meta(meta, media, prompt)
    except ValueError as e:
        raise Reject(str(e), FILTERED, "no_text") from e


def conversation_from_meta(meta: dict[str, Any], media: str, prompt: str | None = None) -> tuple[str, list[Turn]]:
    """(task, turns) for an input's meta; see the module docstring."""
    video = media == "video"
    if meta.get("conversations"):
        turns, task = [_turn(t) for t in meta["conversations"]], TASK_VIDEO_QA if video else TASK_CONVERSATION
    elif meta.get("qa"):
        turns, task = _qa_turns(meta["qa"]), TASK_VIDEO_QA if video else TASK_CONVERSATION
    elif meta.get("question") and meta.get("answer"):
        turns = _qa_turns([{"question": meta["question"], "answer": meta["answer"]}])
        task = TASK_VIDEO_QA if video else TASK_CONVERSATION
    elif isinstance(meta.get("caption"), str) and meta["caption"].strip():
        turns = [Turn("user", prompt or DEFAULT_PROMPTS[media]), Turn("assistant", meta["caption"].strip())]
        task = TASK_VIDEO_CAPTION if video else TASK_CAPTION
    else:
        raise ValueError("no caption, conversation or question-answer text")
    return task, with_placeholder(turns, media)


def meta_of(row: dict[str, Any]) -> dict[str, Any]:
    """The input's meta dict from its `meta_json` column ({} when absent)."""
    return json.loads(row["meta_json"]) if row.get("meta_json") else {}
