"""A corpus record → the model's inputs: chat messages, media, the SFT transform and the model batch.

`SftTransform` is the stream's transform hook for SFT: a `SampleRecord` and its decoded images (or video
frames, grouped by the record's `temporal_ids`) through the model processor, as a plain dict the DataLoader
can pickle; `model_collate` turns a list of those into the batch `MiniCPMV.forward` takes.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from PIL import Image

from model.processor import IGNORE_INDEX, MiniCPMVProcessor, ProcessedSample, Video, collate
from schemas.record import SampleRecord


def record_messages(record: SampleRecord) -> list[dict[str, str]]:
    """The record's conversation as chat-template messages."""
    return [{"role": t.role, "content": t.content} for t in record.conversations]


def record_media(record: SampleRecord, images: list[Image.Image]) -> tuple[list[Image.Image], list[Video]]:
    """`(images, videos)`: decoded frames form one video when the record carries temporal ids."""
    if record.temporal_ids:
        return [], [Video(frames=images, packages=record.temporal_ids)]
    return images, []


def sample_to_dict(sample: ProcessedSample) -> dict[str, Any]:
    """A `ProcessedSample` as a dict (`input_ids` first: the stream counts its length)."""
    return {f.name: getattr(sample, f.name) for f in dataclasses.fields(sample)}


class SftTransform:
    """The stream's processor hook for SFT: the record's full conversation with assistant labels.

    Raises (and the stream skips the sample, counted by reason) when the markers and media disagree or
    the sample has no trained token.
    """

    def __init__(self, processor: MiniCPMVProcessor) -> None:
        self.processor = processor

    def __call__(self, record: SampleRecord, images: list[Image.Image]) -> dict[str, Any]:
        imgs, videos = record_media(record, images)
        sample = self.processor(record_messages(record), imgs, videos)
        if not bool((sample.labels != IGNORE_INDEX).any()):
            raise ValueError("no assistant tokens to train")
        return sample_to_dict(sample)


def model_collate(samples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """`SftTransform` outputs → one right-padded model batch (`model.processor.collate`)."""
    return collate([ProcessedSample(**s) for s in samples], pad_token_id)
