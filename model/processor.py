"""MiniCPM-V 4.5 processor: conversation + images + videos → model inputs (released ``processing_minicpmv.py``).

Media markers in user messages are replaced by the released placeholder layout, the conversation is rendered with
the chat template, tokenised segment by segment (labels only on trained spans), and the positions of every
block's query tokens (``image_bound``) are read back from the token ids, as the released processor does.

Markers: ``(<image>./</image>)`` or the finetune format's bare ``<image>`` take the next image;
``(<video>./</video>)`` or ``<video>`` take the next video. With media but no marker at all, placeholders for
all images then all videos are prepended to the first user message, one per line (finetune behaviour).

Layout per image: optional ``<image_id>i</image_id>``, the thumbnail block ``<image>`` + 64 ``<unk>`` +
``</image>``, then the slice rows (``<slice>`` + 64 ``<unk>`` + ``</slice>`` each, rows joined by newlines).
Per video (released inference example: frames each get a placeholder, joined by newlines): the first frame of
each package gets an ``<image>`` block; the other frames, and the newline before each of them, are dropped, so
blocks are joined by one newline whatever the packing; no image ids, no slicing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from model.chat_template import render
from model.config import MiniCPMVConfig, SliceConfig
from model.slicing import get_sliced_grid, grid_placeholder, slice_image, to_patches
from model.tokenizer import ByteTokenizer, TextTokenizer

IGNORE_INDEX = -100
_MARKER = re.compile(r"\(<image>\./</image>\)|\(<video>\./</video>\)|<image>|<video>")


@dataclass(frozen=True)
class Video:
    """Sampled frames and their temporal ids grouped into packages (``VideoSampling.packages``)."""

    frames: list[Image.Image]
    packages: list[list[int]]

    def __post_init__(self) -> None:
        n = sum(len(p) for p in self.packages)
        if n != len(self.frames) or any(not p for p in self.packages):
            raise ValueError(f"{len(self.frames)} frames but packages cover {n} (empty packages not allowed)")


@dataclass
class ProcessedSample:
    """Model inputs for one conversation.

    Attributes:
        input_ids: ``(T,)`` token ids.
        labels: ``(T,)`` ids on trained spans, ``IGNORE_INDEX`` elsewhere.
        image_bound: ``(n_blocks, 2)``: ``[start, end)`` of each block's query tokens, in text order.
        pixel_values: one ``(3, p, L * p)`` patch strip per slice, in block order (a package's frames in turn).
        tgt_sizes: ``(n_slices, 2)`` patch grid (rows, cols) per slice.
        temporal_ids: one list per block: ``[-1]`` for an image slice, the package's ids for a video package.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    image_bound: torch.Tensor
    pixel_values: list[torch.Tensor] = field(default_factory=list)
    tgt_sizes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 2, dtype=torch.long))
    temporal_ids: list[list[int]] = field(default_factory=list)

    @property
    def num_visual_tokens(self) -> int:
        return int((self.image_bound[:, 1] - self.image_bound[:, 0]).sum()) if len(self.image_bound) else 0


class MiniCPMVProcessor:
    """Builds :class:`ProcessedSample` s.

    Args:
        tokenizer: any :class:`TextTokenizer` knowing the special tokens of the released tokenizer.
        slicing: image slicing settings (published: 9 slices of 448²).
        query_num: tokens per block (64).
        use_image_id: prefix each image with ``<image_id>i</image_id>`` (released default: on).
    """

    def __init__(
        self, tokenizer: TextTokenizer, slicing: SliceConfig, query_num: int = 64, use_image_id: bool = True
    ) -> None:
        self.tokenizer = tokenizer
        self.slicing = slicing
        self.query_num = query_num
        self.use_image_id = use_image_id
        self.start_ids = {tokenizer.token_id("<image>"), tokenizer.token_id("<slice>")}
        self.end_ids = {tokenizer.token_id("</image>"), tokenizer.token_id("</slice>")}

    @classmethod
    def from_config(cls, config: MiniCPMVConfig, tokenizer: TextTokenizer | None = None) -> "MiniCPMVProcessor":
        """A processor for ``config``; the offline byte tokenizer unless a real one is given."""
        if tokenizer is None:
            tokenizer = ByteTokenizer(config.special_tokens, config.llm.vocab_size)
        return cls(tokenizer, config.slicing, config.query_num, config.use_image_id)

    # -- placeholders -------------------------------------------------------------------------------------------
    def _block(self, start: str, end: str) -> str:
        return start + "<unk>" * self.query_num + end

    def image_placeholder(self, image_size: tuple[int, int], image_idx: int | None = None) -> str:
        """Text standing for a ``(width, height)`` image; ``image_idx`` adds the image id when enabled."""
        grid = get_sliced_grid(image_size, self.slicing.max_slice_nums, self.slicing.scale_resolution)
        prefix = f"<image_id>{image_idx}</image_id>" if self.use_image_id and image_idx is not None else ""
        return prefix + self._block("<image>", "</image>") + grid_placeholder(grid, self._block("<slice>", "</slice>"))

    def video_placeholder(self, packages: list[list[int]]) -> str:
        """Text standing for a video: one block per package, blocks joined by single newlines.

        As the released processor renders frames that the chat joined with newlines: a package's later frames
        are skipped together with the (stripped) text before them, so any packing gives ``block\nblock...``.
        """
        return "\n".join(self._block("<image>", "</image>") for _ in packages)

    def image_token_count(self, image_size: tuple[int, int]) -> int:
        """Visual tokens of one image: ``(1 + cols * rows) * query_num``."""
        grid = get_sliced_grid(image_size, self.slicing.max_slice_nums, self.slicing.scale_resolution)
        return (1 + (grid[0] * grid[1] if grid else 0)) * self.query_num

    def video_token_count(self, packages: list[list[int]]) -> int:
        """Visual tokens of one video: ``query_num`` per package."""
        return len(packages) * self.query_num

    # -- processing ---------------------------------------------------------------------------------------------
    def __call__(
        self,
        messages: list[dict[str, str]],
        images: Sequence[Image.Image] = (),
        videos: Sequence[Video] = (),
        add_generation_prompt: bool = False,
        thinking: bool = False,
        max_length: int | None = None,
    ) -> ProcessedSample:
        """Process one conversation; raises ``ValueError`` on marker/media mismatch or length over ``max_length``."""
        images, videos = list(images), list(videos)
        messages = [dict(m) for m in messages]
        if (images or videos) and not any(_MARKER.search(m["content"]) for m in messages if m["role"] == "user"):
            first_user = next((m for m in messages if m["role"] == "user"), None)
            if first_user is None:
                raise ValueError("media given but the conversation has no user message")
            markers = ["(<image>./</image>)"] * len(images) + ["(<video>./</video>)"] * len(videos)
            first_user["content"] = "\n".join(markers) + "\n" + first_user["content"]

        pixel_values: list[torch.Tensor] = []
        tgt_sizes: list[tuple[int, int]] = []
        temporal_ids: list[list[int]] = []
        next_image, next_video = iter(images), iter(videos)
        image_count = 0

        def add_slices(slices: list[Image.Image]) -> None:
            for s in slices:
                strip, grid = to_patches(s, self.slicing.patch_size)
                pixel_values.append(strip)
                tgt_sizes.append(grid)

        def expand(match: re.Match) -> str:
            nonlocal image_count
            if "image" in match.group(0):
                image = next(next_image, None)
                if image is None:
                    raise ValueError(f"more image markers than the {len(images)} images given")
                image = image.convert("RGB")
                sliced = slice_image(image, self.slicing)
                add_slices(sliced.images)
                temporal_ids.extend([[-1]] * len(sliced.images))
                image_count += 1
                return self.image_placeholder(image.size, image_count - 1)
            video = next(next_video, None)
            if video is None:
                raise ValueError(f"more video markers than the {len(videos)} videos given")
            add_slices([slice_image(f.convert("RGB"), self.slicing, max_slice_nums=1).source for f in video.frames])
            temporal_ids.extend([list(p) for p in video.packages])
            return self.video_placeholder(video.packages)

        for m in messages:
            if m["role"] == "user":
                m["content"] = _MARKER.sub(expand, m["content"])
        if next(next_image, None) is not None or next(next_video, None) is not None:
            raise ValueError("more media given than markers in the conversation")

        input_ids: list[int] = []
        labels: list[int] = []
        for segment in render(messages, add_generation_prompt=add_generation_prompt, thinking=thinking):
            ids = self.tokenizer.encode(segment.text)
            input_ids += ids
            labels += ids if segment.train else [IGNORE_INDEX] * len(ids)
        if max_length is not None and len(input_ids) > max_length:
            raise ValueError(f"sequence of {len(input_ids)} tokens exceeds max_length {max_length}")

        image_bound = self._find_bounds(input_ids)
        if len(image_bound) != len(temporal_ids):
            raise ValueError(f"found {len(image_bound)} placeholder blocks in the tokens, expected {len(temporal_ids)}")
        return ProcessedSample(
            input_ids=torch.tensor(input_ids, dtype=torch.long),
            labels=torch.tensor(labels, dtype=torch.long),
            image_bound=image_bound,
            pixel_values=pixel_values,
            tgt_sizes=torch.tensor(tgt_sizes, dtype=torch.long).reshape(-1, 2),
            temporal_ids=temporal_ids,
        )

    def _find_bounds(self, input_ids: list[int]) -> torch.Tensor:
        """``[start + 1, end)`` between each ``<image>``/``<slice>`` and the following ``</image>``/``</slice>``."""
        starts = [i + 1 for i, t in enumerate(input_ids) if t in self.start_ids]
        ends = [i for i, t in enumerate(input_ids) if t in self.end_ids]
        if len(starts) != len(ends):
            raise ValueError(f"unbalanced placeholders: {len(starts)} openings, {len(ends)} closings")
        bounds = torch.tensor(list(zip(starts, ends)), dtype=torch.long).reshape(-1, 2)
        if len(bounds) and not bool(((bounds[:, 1] - bounds[:, 0]) == self.query_num).all()):
            raise ValueError(f"a placeholder block does not hold exactly {self.query_num} query tokens")
        return bounds


def collate(samples: list[ProcessedSample], pad_token_id: int) -> dict[str, Any]:
    """Right-pad a list of samples into one batch for :meth:`model.minicpmv.MiniCPMV.forward`.

    Slices, tgt_sizes and temporal ids are concatenated across samples in order; ``image_bound`` stays a list
    (one tensor per sample), so sample ``i`` consumes the next ``len(image_bound[i])`` resampled blocks.
    """
    length = max(len(s.input_ids) for s in samples)
    input_ids = torch.full((len(samples), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(samples), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(samples), length), dtype=torch.long)
    for i, s in enumerate(samples):
        n = len(s.input_ids)
        input_ids[i, :n], labels[i, :n], attention_mask[i, :n] = s.input_ids, s.labels, 1
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "pixel_values": [p for s in samples for p in s.pixel_values],
        "tgt_sizes": torch.cat([s.tgt_sizes for s in samples]),
        "image_bound": [s.image_bound for s in samples],
        "temporal_ids": [t for s in samples for t in s.temporal_ids],
    }
