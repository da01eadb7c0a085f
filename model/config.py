"""Configuration of the MiniCPM-V 4.5 architecture: ``full`` (the published sizes) and ``tiny`` (CPU tests).

Plain frozen dataclasses; ``to_hf()`` turns the vision and language parts into the transformers configs their
modules are built from. Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from transformers import Qwen3Config, SiglipVisionConfig

# Special tokens of the released tokenizer (released ``tokenizer_config.json``), by name.
FULL_SPECIAL_TOKENS: dict[str, int] = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<think>": 151667,
    "</think>": 151668,
    "<image>": 151669,
    "</image>": 151670,
    "<slice>": 151679,
    "</slice>": 151680,
    "<image_id>": 151681,
    "</image_id>": 151682,
    "<unk>": 128244,
}


@dataclass(frozen=True)
class VisionConfig:
    """SigLIP so400m-style NaViT encoder. ``image_size // patch_size`` is the side of the learned position table."""

    hidden_size: int = 1152
    intermediate_size: int = 4304
    num_hidden_layers: int = 27
    num_attention_heads: int = 16
    image_size: int = 980
    patch_size: int = 14
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu_pytorch_tanh"
    attn_implementation: str = "sdpa"

    @property
    def num_patches_per_side(self) -> int:
        return self.image_size // self.patch_size

    def to_hf(self) -> SiglipVisionConfig:
        return SiglipVisionConfig(
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            image_size=self.image_size,
            patch_size=self.patch_size,
            layer_norm_eps=self.layer_norm_eps,
            hidden_act=self.hidden_act,
            num_channels=3,
            attn_implementation=self.attn_implementation,
        )


@dataclass(frozen=True)
class LLMConfig:
    """Qwen3 decoder (Qwen3-8B by default) with untied input/output embeddings."""

    vocab_size: int = 151748
    hidden_size: int = 4096
    intermediate_size: int = 12288
    num_hidden_layers: int = 36
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    head_dim: int = 128
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 40960
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False
    bos_token_id: int = 151643
    eos_token_id: int = 151645
    attn_implementation: str = "sdpa"

    def to_hf(self) -> Qwen3Config:
        return Qwen3Config(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.rms_norm_eps,
            tie_word_embeddings=self.tie_word_embeddings,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
            pad_token_id=self.bos_token_id,
            attention_bias=False,
            use_sliding_window=False,
            attn_implementation=self.attn_implementation,
        )


@dataclass(frozen=True)
class SliceConfig:
    """LLaVA-UHD slicing: up to ``max_slice_nums`` slices of about ``scale_resolution``² pixels plus a thumbnail."""

    max_slice_nums: int = 9
    scale_resolution: int = 448
    patch_size: int = 14


@dataclass(frozen=True)
class MiniCPMVConfig:
    """The whole model: vision encoder, 3D-Resampler, LLM, processor settings and special-token ids."""

    vision: VisionConfig = field(default_factory=VisionConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    slicing: SliceConfig = field(default_factory=SliceConfig)
    query_num: int = 64
    resampler_head_dim: int = 128
    vision_batch_size: int = 16
    use_image_id: bool = True
    special_tokens: dict[str, int] = field(default_factory=lambda: dict(FULL_SPECIAL_TOKENS))

    @property
    def resampler_heads(self) -> int:
        return self.llm.hidden_size // self.resampler_head_dim

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MiniCPMVConfig":
        d = dict(d)
        return cls(
            vision=VisionConfig(**d.pop("vision")),
            llm=LLMConfig(**d.pop("llm")),
            slicing=SliceConfig(**d.pop("slicing")),
            **d,
        )


def full() -> MiniCPMVConfig:
    """The published MiniCPM-V 4.5 sizes (~8.7B parameters)."""
    return MiniCPMVConfig()


def tiny_special_tokens(first_id: int = 256) -> dict[str, int]:
    """The released special tokens renumbered from ``first_id`` (right after the 256 byte ids)."""
    return {name: first_id + i for i, name in enumerate(FULL_SPECIAL_TOKENS)}


def tiny() -> MiniCPMVConfig:
    """A few million parameters with the same structure, for CPU tests.

    Byte-level vocabulary (256 bytes + the special tokens), a 16x16 vision position table and 224-pixel slices
    (256 patches each), 64 resampler queries as published.
    """
    special = tiny_special_tokens()
    return MiniCPMVConfig(
        vision=VisionConfig(
            hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, image_size=224
        ),
        llm=LLMConfig(
            vocab_size=272,
            hidden_size=256,
            intermediate_size=768,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=4,
            head_dim=32,
            max_position_embeddings=4096,
            bos_token_id=special["<|endoftext|>"],
            eos_token_id=special["<|im_end|>"],
        ),
        slicing=SliceConfig(max_slice_nums=9, scale_resolution=224),
        resampler_head_dim=32,
        special_tokens=special,
    )


CONFIGS = {"full": full, "tiny": tiny}
