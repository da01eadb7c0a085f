"""The stream's per-sample transform hook, and a byte-level stand-in for tests and benchmarks.

A transform turns one decoded sample into model inputs:
`SampleTransform = Callable[[SampleRecord, list[PIL.Image.Image]], dict[str, torch.Tensor]]`. The stream calls it
inside the DataLoader worker; the output must hold a 1-D `input_ids` (or the configured length key), whose
length is the sample's token count for the batch budget. Raising any exception skips the sample (counted,
with the exception type as the reason). It must be picklable when workers are spawned, not forked.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from model.processor import IGNORE_INDEX
from schemas.record import SampleRecord

SampleTransform = Callable[[SampleRecord, list[Image.Image]], dict[str, torch.Tensor]]


class ByteTransform:
    """UTF-8 bytes of the conversation as `input_ids` (labels on assistant turns only), pixels as uint8.

    `pixel_values` is `(n_images, H, W, 3)` uint8, channels last as decoded (a video's frames share one
    size); text-only samples get none. A stand-in with the hook's shape, for tests and benchmarks; the
    trainer plugs in the model's.
    """

    def __call__(self, record: SampleRecord, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        ids: list[int] = []
        labels: list[int] = []
        for turn in record.conversations:
            text = f"{turn.role}: {turn.content}\n".encode("utf-8")
            ids.extend(text)
            labels.extend(text if turn.role == "assistant" else [IGNORE_INDEX] * len(text))
        out = {"input_ids": torch.tensor(ids, dtype=torch.long), "labels": torch.tensor(labels, dtype=torch.long)}
        if images:
            rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
            pixels = np.array(rgb[0])[None] if len(rgb) == 1 else np.stack([np.asarray(im) for im in rgb])
            out["pixel_values"] = torch.from_numpy(pixels)
        return out
