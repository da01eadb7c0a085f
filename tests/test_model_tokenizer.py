"""Trainers refuse a model with the released vocabulary but no real tokenizer; tokenizer folders load as
released (tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json) and are checked token by token."""
from __future__ import annotations

import dataclasses

import pytest
from PIL import Image
from tokenizer_files import bpe_folder

import model.config as model_config
from corpus.errors import UserError
from model.checkpoint import save_checkpoint
from model.config import tiny, tiny_special_tokens
from model.minicpmv import MiniCPMV
from model.tokenizer import ByteTokenizer
from training_bridge.train.model_build import build_model, model_tokenizer
from training_bridge.train.train_config import ModelSpec

pytest.importorskip("tokenizers")
SPECIALS = list(tiny_special_tokens())  # the processor's tokens in the tiny model's id order (256, 257, ...)


def qwen_like():
    """A small config laid out as the released one: special tokens not at the byte-tokenizer ids."""
    cfg = tiny()
    special = {t: 300 + i for i, t in enumerate(SPECIALS)}
    return dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, vocab_size=320), special_tokens=special)


def test_released_vocabulary_without_tokenizer_is_refused(monkeypatch):
    monkeypatch.setitem(model_config.CONFIGS, "qwen-like", qwen_like)
    with pytest.raises(UserError, match="model.tokenizer"):
        build_model(ModelSpec(preset="qwen-like"))


def test_checkpoint_with_released_vocabulary_is_refused_without_tokenizer(tmp_path):
    save_checkpoint(MiniCPMV(qwen_like()), tmp_path / "ckpt")
    with pytest.raises(UserError, match="real Qwen3 tokenizer"):
        build_model(ModelSpec(init=str(tmp_path / "ckpt")))


def test_tiny_keeps_the_byte_tokenizer():
    _, processor = build_model(ModelSpec(preset="tiny"))
    assert isinstance(processor.tokenizer, ByteTokenizer)


@pytest.mark.parametrize("layout", ["tokenizer.json", "vocab+merges"])
def test_tokenizer_folder_loads_and_drives_the_processor(tmp_path, layout):
    folder = bpe_folder(tmp_path / "tok", SPECIALS, layout)
    _, processor = build_model(ModelSpec(preset="tiny", tokenizer=str(folder)))
    tok = processor.tokenizer
    assert not isinstance(tok, ByteTokenizer)
    assert tok.token_id("<image>") == tiny_special_tokens()["<image>"]
    sample = processor([{"role": "user", "content": "<image>What is written here?"}], images=[Image.new("RGB", (64, 64))])
    assert sample.num_visual_tokens == 64
    assert tok.encode("What is written here?") != list(b"What is written here?")  # the BPE's ids, not bytes


def test_official_folder_is_the_default_tokenizer(tmp_path):
    folder = bpe_folder(tmp_path / "release", SPECIALS, "vocab+merges")
    tok = model_tokenizer(ModelSpec(preset="tiny", official=str(folder)), tiny())
    assert tok is not None and tok.token_id("<think>") == tiny_special_tokens()["<think>"]


def test_missing_special_tokens_are_named(tmp_path):
    folder = bpe_folder(tmp_path / "tok", [t for t in SPECIALS if t not in ("<slice>", "<think>")])
    with pytest.raises(UserError, match=r"lacks the special tokens \['<think>', '<slice>'\]"):
        build_model(ModelSpec(preset="tiny", tokenizer=str(folder)))


def test_special_tokens_at_other_ids_are_refused(tmp_path):
    folder = bpe_folder(tmp_path / "tok", list(reversed(SPECIALS)))
    with pytest.raises(UserError, match="other ids than the model expects"):
        build_model(ModelSpec(preset="tiny", tokenizer=str(folder)))


def test_folder_without_tokenizer_files_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no tokenizer"):
        build_model(ModelSpec(preset="tiny", tokenizer=str(tmp_path / "empty")))
