"""The model a run trains: `build_model(spec, seed)` → a `MiniCPMV` and its `MiniCPMVProcessor` from a `ModelSpec`.

Weights come from a checkpoint (`init`), released weights (`official`) or a fresh preset seeded by `seed`;
every model but the byte-level `tiny` needs its real tokenizer (`model_tokenizer`), checked before any weight
is built.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch

from corpus.errors import UserError
from model.checkpoint import CONFIG_NAME, load_checkpoint, load_official
from model.config import CONFIGS, MiniCPMVConfig, tiny_special_tokens
from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor
from model.tokenizer import TextTokenizer, check_tokenizer, load_tokenizer
from training_bridge.train.train_config import ModelSpec

log = logging.getLogger(__name__)


def build_model(spec: ModelSpec, seed: int = 0) -> tuple[MiniCPMV, MiniCPMVProcessor]:
    """The model (fp32, on CPU) and its processor, as the module docstring says; the tokenizer is checked
    before any weight is built."""
    if spec.init:
        config = MiniCPMVConfig.from_dict(json.loads((Path(spec.init) / CONFIG_NAME).read_text()))
    else:
        config = CONFIGS[spec.preset]()
    tokenizer = model_tokenizer(spec, config)
    if spec.init:
        model = load_checkpoint(spec.init)
        log.info("loaded %s", spec.init)
    else:
        torch.manual_seed(seed)
        model = MiniCPMV(config)
        if spec.official:
            load_official(model, spec.official)
    if spec.attention is not None:
        model.set_attention(spec.attention)
    config = model.config
    if spec.max_slice_nums is not None:
        config = dataclasses.replace(config, slicing=dataclasses.replace(config.slicing, max_slice_nums=spec.max_slice_nums))
    return model, MiniCPMVProcessor.from_config(config, tokenizer)


def model_tokenizer(spec: ModelSpec, config: MiniCPMVConfig) -> TextTokenizer | None:
    """The real tokenizer of `spec` (`tokenizer`, else the `official` or `init` folder's), checked against the
    model's special tokens; None (the byte tokenizer) only for the byte-level `tiny` layout.

    A model with the released vocabulary and no tokenizer is refused: byte ids 0-255 fed to Qwen3 weights
    train the LLM on garbage while the loss still falls.
    """
    folder = spec.tokenizer or spec.official or (spec.init if spec.init and _has_tokenizer(Path(spec.init)) else None)
    if folder is None:
        if config.special_tokens == tiny_special_tokens():
            return None
        raise UserError(f"model.preset {spec.preset!r} (or the weights of model.official / model.init) needs the "
                        "real Qwen3 tokenizer, not the byte stand-in: set model.tokenizer to the released "
                        "checkpoint folder (tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json)")
    tokenizer = load_tokenizer(folder)
    check_tokenizer(tokenizer, config.special_tokens, config.llm.vocab_size, str(folder))
    log.info("tokenizer from %s (%d ids)", folder, tokenizer.vocab_size)
    return tokenizer


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file()
