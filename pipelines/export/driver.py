"""Read a corpus sample by sample and append one entry per sample to `OUT/{format}.json`, atomically.

Samples are read one at a time in corpus order (shards in name order, samples in file order) by their byte
ranges (`CorpusIndex`, local or any fsspec URL). The format's entry builder either returns the entry (after
writing the media it names under `OUT/media/`) or raises `SampleError(reason)` BEFORE writing anything: the
sample is skipped and counted under that reason. The JSON array is written incrementally (memory bounded by
one sample) to `{format}.json.partial` and renamed when complete, so the file appears whole or not at all.
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.errors import UserError
from corpus.index import CorpusIndex
from corpus.range_reader import RangeReader
from corpus.tar_members import SampleError, parse_members, read_record
from pipelines.export.llava import llava_entry, llava_onevision_entry
from pipelines.export.media import MediaWriter, SampleMedia, Write, sample_media
from pipelines.export.minicpmv import MiniCPMVEntries
from pipelines.export.minicpmv_length import LengthConfig, MiniCPMVLength
from schemas.record import SampleRecord

log = logging.getLogger(__name__)

FORMATS = ("minicpmv", "llava", "llava-onevision")
MAX_MEMBER_BYTES = 2 << 30
EntryBuilder = Callable[[str, SampleRecord, SampleMedia, Write], dict[str, Any]]


@dataclass(frozen=True)
class ExportConfig:
    """`fmt` one of FORMATS; `relative` media paths relative to OUT; `length` the MiniCPM-V token limit."""

    fmt: str
    relative: bool = False
    length: LengthConfig = field(default_factory=LengthConfig)


@dataclass
class ExportSummary:
    """What an export wrote and what it skipped by reason: `samples + sum(skipped) == corpus_samples`."""

    json_path: Path
    corpus_samples: int = 0
    samples: int = 0
    media_files: int = 0
    skipped: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The summary as the CLI prints it."""
        written = f"{self.samples} of {self.corpus_samples} samples written to {self.json_path}"
        out = [f"{written} ({self.media_files} media files)"]
        out += [f"skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        return out


def _builder(config: ExportConfig) -> EntryBuilder:
    if config.fmt == "llava":
        return llava_entry
    if config.fmt == "llava-onevision":
        return llava_onevision_entry
    return MiniCPMVEntries(MiniCPMVLength(config.length))


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


def export_corpus(corpus: str, out: str | Path, config: ExportConfig) -> ExportSummary:
    """Write `OUT/{fmt}.json` and `OUT/media/` for every sample of `corpus`; see the module docstring."""
    if config.fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, not {config.fmt!r}")
    if config.length.max_length < 1:
        raise UserError(f"--max-length must be a positive token count, not {config.length.max_length}")
    try:
        index = CorpusIndex.load(corpus)
    except FileNotFoundError as e:
        raise UserError(f"{corpus} is not a built corpus ({e}): export a folder written by `mmcorpus ... build`") from e
    index.require_video_member()
    build = _builder(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(out / f"{config.fmt}.json", corpus_samples=index.n_samples)
    media = MediaWriter(out, config.relative)
    partial = summary.json_path.with_suffix(".json.partial")
    with open(partial, "w", encoding="utf-8") as f:
        f.write("[")
        for key, members in _samples(index):
            try:
                if isinstance(members, SampleError):
                    raise members
                entry = build(key, read_record(members), sample_media(members), media)
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
