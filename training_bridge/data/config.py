"""`DataConfig`: every setting of the training data path, owned once (the `data:` section of a training YAML).

The loader (`loader.BridgeLoader`), the stream (`stream.ShardStream`) and the trainers read this one type;
what is not a user setting (the pad id and length key of the transform, how many epochs to iterate) is
passed to the loader as an argument. `DecodeLimits` is the part `decode.decode_sample` takes. This module
imports no image library: the training configs (and the GPU check's bare interpreter) load it without PIL.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from training_bridge.data.mixing import MIX_SIZES, MIX_WEIGHTS, Source


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds on what one sample may cost to decode (`DataConfig.decode`)."""

    max_image_pixels: int  # per image or frame, width x height
    max_images: int  # images plus frames per sample


@dataclass
class DataConfig:
    """Which corpora to read and how to shuffle, bound, batch and deliver their samples."""

    corpora: list[str] = field(default_factory=list)  # corpus folders or fsspec URLs
    weights: list[float] = field(default_factory=list)  # each corpus's share of an epoch; [] : by corpus size
    seed: int = 0
    shuffle_buffer: int = 256  # samples held (as raw bytes) per worker; <= 1 disables shuffling
    max_tokens: int = 16384  # token budget per micro-batch; longer samples are skipped (an official-policy video: 11,520 visual tokens)
    max_images: int = 1080  # images plus video frames per sample (the paper's training bound, schemas MAX_FRAMES); more: skipped
    max_image_pixels: int = 40_000_000  # per image or frame; larger: skipped
    max_member_bytes: int = 256 << 20  # per tar member; larger: skipped
    max_skipped: float | None = 0.01  # share of a corpus's epoch that may be skipped before the run stops; null: no limit
    num_workers: int = 2
    prefetch_factor: int = 2  # batches each worker prepares ahead (num_workers > 0)
    pin_memory: bool | None = None  # null: when CUDA is available
    pack: bool = True  # a micro-batch's samples in one row, attention per sample (`packing.py`); False: right-padded

    def sources(self) -> list[Source]:
        """The corpora with their mixing weights (1.0 each when `weights` is empty)."""
        if not self.corpora:
            raise ValueError("data.corpora is empty: name at least one built corpus")
        weights = self.weights or [1.0] * len(self.corpora)
        if len(weights) != len(self.corpora):
            raise ValueError(f"{len(self.corpora)} corpora but {len(weights)} weights")
        return [Source(u, w) for u, w in zip(self.corpora, weights)]

    @property
    def mixing(self) -> str:
        """"weights" when weights are given (shares by weight), else "sizes" (every sample once per epoch)."""
        return MIX_WEIGHTS if self.weights else MIX_SIZES

    @property
    def decode(self) -> DecodeLimits:
        """The bounds one sample's decoding runs under."""
        return DecodeLimits(self.max_image_pixels, self.max_images)
