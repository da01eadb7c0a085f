"""RL and RLAIF prompts derived from corpus records, read once through the bridge loader.

A `Prompt` is a question (user turn with its images or video), a reference answer and how the answer is
judged: "short" (rule-based verification) or "free_form" (rule-based similarity in short mode, RLPR in long
mode). Kinds of prompt per record; the RL defaults are answers checkable from the image (paper §2.4):

    region_text   OCR / reconstruct / masked records (corrupted regions): the record's own question → its
                  own target, the regions' original text (free-form)          [default]
    caption_qa    caption, conversation, video caption and video QA records: own question → own answer
                  (free-form)                                                 [default]
    transcribe    clean pages: own question → the page text in reading order (free-form, long)
    record        any record: its own first question → its own answer (free-form; RLAIF-V sampling)
    region_count  "How many regions ... corrupted or masked?" → the count      [opt-in: rewards guessing,
    page_number   "Which page of its document is this?" → page index + 1        warned in the manifest]

`load_prompts(data, tasks, env)` reads this rank's share of the corpora for one epoch (the loader's rank
split, decode and failure accounting) and returns the prompts in a deterministic order.
`write_task_corpus(prompts, out_dir)` writes prompts with their reference answers as a corpus in the
shard layout, for a cold-start SFT before RL (the paper's RL starts from an SFT model).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from corpus.video_member import mux_frames
from model.processor import Video
from schemas.record import (
    TASK_CAPTION,
    TASK_CONVERSATION,
    TASK_KNOWLEDGE,
    TASK_OCR,
    TASK_TRANSCRIBE,
    TASK_VIDEO_CAPTION,
    TASK_VIDEO_QA,
    TASK_VISUAL_CONTEXT,
    SampleRecord,
    Turn,
    sample_key,
)
from schemas.video_member import VIDEO_MEMBER_EXT
from training_bridge.data.config import DataConfig
from training_bridge.data.corpus_writer import write_rows
from training_bridge.data.loader import BridgeLoader
from training_bridge.train.distributed import DistEnv
from training_bridge.train.record_inputs import record_media
from training_bridge.train.train_config import TaskConfig

log = logging.getLogger(__name__)

SHORT, FREE_FORM = "short", "free_form"
TASK_RL = "rl_task"
_COUNT_KEY = "n_prompts"
FRAME_STEP_S = 0.1  # seconds between the synthetic frames of a task video, the temporal-id grid [ours]


@dataclass
class Prompt:
    """One RL/RLAIF prompt. `context`: text claims about this prompt may be checked against."""

    uid: str
    question: str  # user text, with the media marker(s) of `images` / `videos`
    reference: str
    answer_type: str  # SHORT | FREE_FORM
    images: list[Image.Image] = field(default_factory=list)
    videos: list[Video] = field(default_factory=list)
    context: str = ""

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.question}]


def _first_turns(record: SampleRecord) -> tuple[str, str] | None:
    users = [t.content for t in record.conversations if t.role == "user"]
    answers = [t.content for t in record.conversations if t.role == "assistant"]
    return (users[0], answers[0]) if users and answers else None


def _marker(record: SampleRecord) -> str:
    return "<video>" if record.temporal_ids else "<image>"


def region_count(record: SampleRecord) -> list[tuple[str, str, str]]:
    if not record.regions:
        return []
    q = f"{_marker(record)}\nHow many regions of this page have been corrupted or masked? Answer with a single number."
    return [(q, str(len(record.regions)), SHORT)]


def page_number(record: SampleRecord) -> list[tuple[str, str, str]]:
    if record.page is None:
        return []
    q = f"{_marker(record)}\nWhich page of its document is this? Answer with a single number."
    return [(q, str(record.page + 1), SHORT)]


def own_turns(record: SampleRecord, tasks: frozenset[str] | None = None) -> list[tuple[str, str, str]]:
    """The record's first question and answer (free-form), when its task is one of `tasks` (None: any)."""
    turns = _first_turns(record)
    if turns is None or (tasks is not None and record.task not in tasks):
        return []
    return [(turns[0], turns[1], FREE_FORM)]


REGION_TASKS = frozenset({TASK_OCR, TASK_VISUAL_CONTEXT, TASK_KNOWLEDGE})
CAPTION_QA_TASKS = frozenset({TASK_CAPTION, TASK_CONVERSATION, TASK_VIDEO_CAPTION, TASK_VIDEO_QA})
KINDS: dict[str, Callable[[SampleRecord], list[tuple[str, str, str]]]] = {
    "region_text": partial(own_turns, tasks=REGION_TASKS), "caption_qa": partial(own_turns, tasks=CAPTION_QA_TASKS),
    "transcribe": partial(own_turns, tasks=frozenset({TASK_TRANSCRIBE})), "record": own_turns,
    "region_count": region_count, "page_number": page_number,
}
DEFAULT_KINDS = ["region_text", "caption_qa"]
GUESSING_KINDS = ("region_count", "page_number")  # short answers a model can guess without reading the image


def prompts_from_record(record: SampleRecord, images: list[Image.Image], kinds: list[str]) -> list[Prompt]:
    """The prompts of `kinds` that `record` supports, in `kinds` order."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown task kinds {sorted(unknown)}; choose from {sorted(KINDS)}")
    imgs, videos = record_media(record, images)
    turns = _first_turns(record)
    context = turns[1] if turns else ""
    return [Prompt(f"{record.key}/{kind}", q, ref, kind_type, imgs, videos, context)
            for kind in kinds for q, ref, kind_type in KINDS[kind](record)]


class PromptTransform:
    """Stream hook: a record → its prompts (counted under `n_prompts`, the stream's length key)."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = list(kinds)

    def __call__(self, record: SampleRecord, images: list[Image.Image]) -> dict[str, Any]:
        prompts = prompts_from_record(record, images, self.kinds)
        return {_COUNT_KEY: torch.zeros(len(prompts)), "prompts": prompts}


def collate_prompts(samples: list[dict[str, Any]]) -> list[Prompt]:
    return [p for s in samples for p in s["prompts"]]


def load_prompts(data: DataConfig, tasks: TaskConfig, env: DistEnv) -> list[Prompt]:
    """One epoch of this rank's share of `data.corpora`, turned into prompts (at most `tasks.max_prompts`)."""
    unbounded = replace(data, max_tokens=1 << 30)  # a batch counts prompts, not tokens
    loader = BridgeLoader(unbounded, rank=env.rank, world_size=env.world_size, transform=PromptTransform(tasks.kinds),
                          collate=collate_prompts, length_key=_COUNT_KEY, epochs=1)
    prompts: list[Prompt] = []
    for batch in loader:
        prompts.extend(batch)
        if tasks.max_prompts is not None and len(prompts) >= tasks.max_prompts:
            break
    prompts = sorted(prompts, key=lambda p: p.uid)[: tasks.max_prompts]
    log.info("rank %d: %d prompts of kinds %s from %d records", env.rank, len(prompts), tasks.kinds, loader.samples)
    if not prompts:
        raise ValueError(f"no prompt of kinds {tasks.kinds} in {data.corpora}")
    return prompts


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def task_record(prompt: Prompt, n: int, reasoning: str | None = None) -> dict[str, Any]:
    """A sink row (record + media) teaching `prompt`'s reference answer, for cold-start SFT; in long mode
    (`<think>reasoning</think>` before the answer) when `reasoning` is given."""
    key = sample_key("rl-task", prompt.uid, "long" if reasoning is not None else "short")
    frames = [f for v in prompt.videos for f in v.frames]
    times = [FRAME_STEP_S * i for i in range(len(frames))] if frames else None
    answer = prompt.reference if reasoning is None else f"<think>\n{reasoning}\n</think>\n\n{prompt.reference}"
    record = SampleRecord(key=key, task=TASK_RL, conversations=[Turn("user", prompt.question), Turn("assistant", answer)],
                          source="rl_tasks", input_id=f"{prompt.uid}/{'long' if reasoning is not None else 'short'}",
                          temporal_ids=[list(p) for v in prompt.videos for p in v.packages] or None,
                          frame_timestamps=times,
                          meta={"answer_type": prompt.answer_type})
    if frames:
        members = [{"ext": VIDEO_MEMBER_EXT, "data": mux_frames([_jpeg(f) for f in frames], times)}]
    else:
        members = [{"ext": "jpg" if i == 0 else f"{i}.jpg", "data": _jpeg(im)} for i, im in enumerate(prompt.images)]
    members.append({"ext": "json", "data": record.to_json()})
    size = (frames or prompt.images or [Image.new("RGB", (0, 0))])[0].size
    return {"input_id": record.input_id, "source": record.source, "seq": n, "key": key, "members": members,
            "task": record.task, "width": size[0], "height": size[1], "n_frames": len(frames) or None,
            "text_len": len(prompt.reference)}


def write_task_corpus(prompts: list[Prompt], out_dir: str | Path, reasoning: str | None = None,
                      per_shard: int = 256) -> int:
    """Write `prompts` with their references as answers as a corpus (cold-start SFT before RL); the sample count.

    Each prompt gives a short-mode sample, and with `reasoning` (a fixed text, *[ours]*) also a long-mode one,
    so both templates are known before RL. Prompts with more than one image are skipped: the loader
    decodes one image or one video per sample.
    """
    usable = [p for p in prompts if len(p.images) <= 1]
    variants = [None] if reasoning is None else [None, reasoning]
    rows = [task_record(p, n, r) for n, (p, r) in enumerate((p, r) for p in usable for r in variants)]
    shards = [rows[i : i + per_shard] for i in range(0, len(rows), per_shard)]
    for shard_id, shard in enumerate(shards):
        for row in shard:
            row["shard_id"] = shard_id
    write_rows(Path(out_dir), shards, prefix="rltask", pipeline="rl-tasks")
    return len(rows)
