"""A built corpus as the JSON files other trainers read: MiniCPM-V's finetune format or LLaVA's.

    summary = export_corpus("corpora/docs", "exports/docs", "minicpmv")

Samples are read one at a time in corpus order (shards in name order, samples in file order) by their byte
ranges (`CorpusIndex`, local or any fsspec URL), their media written under `OUT/media/`, and one JSON
entry appended to `OUT/{format}.json` per sample: the array is written incrementally, so memory stays
bounded by one sample whatever the corpus size. The file appears complete or not at all (written to a
temporary name, renamed at the end).

* `minicpmv` (the official finetune scripts): `{"id", "image", "conversations": [{"role", "content"}]}`.
  One image: `image` is its path and the `<image>` marker stays in the text. Several images or video
  frames: `image` is `{"<image_00>": path, ...}` and each marker in the text is the `<image_NN>` it maps to
  (a video marker becomes the run of its frames' placeholders, one per line). Video records also carry
  their frame policy (`temporal_ids` packages, `frame_indices`, `frame_timestamps`, `fps`), and a corpus
  that stored the original file (`frames.store=original`) exports it as `video` beside them.
* `llava`: `{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]}`, `<image>` in the
  first human turn (prepended when the record has no marker); several images or frames: a list of paths.

Paths are absolute unless `relative` (then relative to OUT). Samples that cannot be read are skipped and
counted by reason in the summary (samples written + skipped = samples in the corpus).
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from corpus.errors import UserError
from corpus.index import CorpusIndex, CorpusIndexError
from corpus.range_reader import RangeReader
from corpus.tar_members import IMAGE_EXTS, VIDEO_EXTS, SampleError, parse_members, read_record
from schemas.record import SampleRecord

log = logging.getLogger(__name__)

FORMATS = ("minicpmv", "llava")
MAX_MEMBER_BYTES = 2 << 30
_MARKER = re.compile(r"\(<image>\./</image>\)|\(<video>\./</video>\)|<image>|<video>")


@dataclass
class ExportSummary:
    """What an export wrote, and what it skipped by reason."""

    json_path: Path
    samples: int = 0
    media_files: int = 0
    skipped: Counter = field(default_factory=Counter)


def _media(members: dict[str, bytes]) -> tuple[list[str], str | None]:
    """`(image member names in order, video container member or None)`: frames `000.jpg`... first, then images."""
    frames = sorted((int(e.split(".")[0]), e) for e in members if e.split(".")[0].isdigit()
                    and e.split(".")[-1] in IMAGE_EXTS)
    images = [e for _, e in frames] + sorted(IMAGE_EXTS & members.keys())
    video = next((e for e in sorted(members) if e in VIDEO_EXTS), None)
    return images, video


class _MediaWriter:
    """Writes members under OUT/media/{key[:2]}/ and returns the paths the JSON names."""

    def __init__(self, out: Path, relative: bool) -> None:
        self.root, self.relative, self.files = out.resolve(), relative, 0
        self.made: set[str] = set()

    def __call__(self, key: str, ext: str, data: bytes) -> str:
        sub = f"media/{key[:2]}"
        if sub not in self.made:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            self.made.add(sub)
        name = f"{sub}/{key}.{ext}"
        with open(self.root / name, "wb") as f:
            f.write(data)
        self.files += 1
        return name if self.relative else str(self.root / name)


def _placeholders(content: str, names: list[str], per_marker: int, cursor: list[int]) -> str:
    """Each marker → the `<image_NN>` of the next `per_marker` images (a video's frames: all), one per line."""
    def repl(match: re.Match) -> str:
        start = cursor[0]
        cursor[0] += per_marker
        if cursor[0] > len(names):
            raise SampleError("markers", f"more media markers than the {len(names)} images of the sample")
        return "\n".join(names[start:cursor[0]])

    return _MARKER.sub(repl, content)


def minicpmv_entry(record: SampleRecord, images: list[str], video: str | None) -> dict[str, Any]:
    """One official finetune entry (see the module docstring); `images` are written paths in order."""
    turns = [{"role": t.role, "content": t.content} for t in record.conversations]
    entry: dict[str, Any] = {"id": record.key}
    if len(images) == 1 and not record.temporal_ids:
        entry["image"] = images[0]
        for t in turns:
            t["content"] = _MARKER.sub("<image>", t["content"])
    elif images:
        names = [f"<image_{i:02d}>" for i in range(len(images))]
        entry["image"] = dict(zip(names, images))
        cursor = [0]
        for t in turns:
            t["content"] = _placeholders(t["content"], names, len(images) if record.temporal_ids else 1, cursor)
        if cursor[0] == 0:  # no marker: the images go first, as the finetune scripts place them
            first = next(t for t in turns if t["role"] == "user")
            first["content"] = "\n".join(names) + "\n" + first["content"]
    if video:
        entry["video"] = video
    if record.temporal_ids:
        entry.update(temporal_ids=record.temporal_ids, frame_indices=record.frame_indices,
                     frame_timestamps=record.frame_timestamps, fps=record.fps)
    entry["conversations"] = turns
    return entry


def llava_entry(record: SampleRecord, images: list[str], video: str | None) -> dict[str, Any]:
    """One LLaVA entry (see the module docstring)."""
    turns = [{"from": "human" if t.role == "user" else "gpt", "value": _MARKER.sub("<image>", t.content)}
             for t in record.conversations if t.role in ("user", "assistant")]
    entry: dict[str, Any] = {"id": record.key}
    if images:
        entry["image"] = images[0] if len(images) == 1 and not record.temporal_ids else images
        first = next((t for t in turns if t["from"] == "human"), None)
        if first is not None and not any("<image>" in t["value"] for t in turns):
            first["value"] = "<image>\n" + first["value"]
    if video:
        entry["video"] = video
    entry["conversations"] = turns
    return entry


def _samples(index: CorpusIndex) -> Iterator[tuple[str, dict[str, bytes] | SampleError]]:
    reader = RangeReader()
    try:
        for i in range(index.n_samples):
            key = index.keys[i].as_py()
            url = index.shard_urls[index.shard_of(i)]
            try:
                yield key, parse_members(reader.read(url, int(index.offsets[i]), int(index.sizes[i])), key,
                                         MAX_MEMBER_BYTES)
            except SampleError as e:
                yield key, e
            except OSError as e:
                yield key, SampleError("unreadable", f"{url}: {e}")
    finally:
        reader.close()


def export_corpus(corpus: str, out: str | Path, fmt: str, relative: bool = False) -> ExportSummary:
    """Write `OUT/{fmt}.json` and `OUT/media/` for every sample of `corpus`; see the module docstring."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    try:
        index = CorpusIndex.load(corpus)
    except (CorpusIndexError, FileNotFoundError) as e:
        raise UserError(f"{corpus} is not a built corpus ({e}): export a folder written by `mmcorpus ... build`") from e
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out / f"{fmt}.json")
    media = _MediaWriter(out, relative)
    make_entry = minicpmv_entry if fmt == "minicpmv" else llava_entry
    partial = summary.json_path.with_suffix(".json.partial")
    with open(partial, "w", encoding="utf-8") as f:
        f.write("[")
        for key, members in _samples(index):
            try:
                if isinstance(members, SampleError):
                    raise members
                entry = _entry(key, members, media, make_entry)
            except SampleError as e:
                summary.skipped[e.reason] += 1
                log.warning("skipping %s: %s", key, e)
                continue
            f.write(("\n" if summary.samples == 0 else ",\n") + json.dumps(entry, ensure_ascii=False))
            summary.samples += 1
        f.write("\n]\n")
    os.replace(partial, summary.json_path)
    summary.media_files = media.files
    return summary


def _entry(key: str, members: dict[str, bytes], media: _MediaWriter, make_entry) -> dict[str, Any]:
    record = read_record(members)
    image_exts, video_ext = _media(members)
    images = [media(key, ext, members[ext]) for ext in image_exts]
    video = media(key, video_ext, members[video_ext]) if video_ext else None
    return make_entry(record, images, video)
