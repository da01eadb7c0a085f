"""Safetensors checkpoints: exact round trip, and the released Hugging Face layout mapped key by key."""

import json

import pytest
import torch
from safetensors.torch import save_file

from model.checkpoint import (
    INDEX_NAME,
    CheckpointMismatch,
    load_checkpoint,
    load_official,
    map_official_key,
    save_checkpoint,
)
from model.config import tiny
from model.minicpmv import MiniCPMV


@pytest.fixture(scope="module")
def model() -> MiniCPMV:
    torch.manual_seed(0)
    return MiniCPMV(tiny()).eval()


def write_official(directory, tensors: dict[str, torch.Tensor], shards: int = 3) -> None:
    """A checkpoint directory in the released layout: bf16 shards plus model.safetensors.index.json."""
    keys = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: tensors[k].to(torch.bfloat16).contiguous() for k in keys[i::shards]}
        save_file(part, str(directory / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, name))
    (directory / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (directory / "config.json").write_text(json.dumps({"architectures": ["MiniCPMV"], "query_num": 64}))


def test_round_trip_is_exact(model, tmp_path):
    save_checkpoint(model, tmp_path / "one")
    save_checkpoint(model, tmp_path / "sharded", max_shard_bytes=2_000_000)
    assert (tmp_path / "sharded" / INDEX_NAME).is_file()
    for directory in ("one", "sharded"):
        loaded = load_checkpoint(tmp_path / directory)
        assert loaded.config == model.config
        original, restored = model.state_dict(), loaded.state_dict()
        assert original.keys() == restored.keys()
        assert all(torch.equal(original[k], restored[k]) for k in original)


def test_official_layout_loads_every_key(model, tmp_path):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert any(k.startswith("vpm.encoder.layers.0.") for k in state)
    assert {"resampler.query", "resampler.kv_proj.weight", "resampler.attn.in_proj_weight", "resampler.proj",
            "llm.lm_head.weight", "llm.model.embed_tokens.weight", "llm.model.norm.weight",
            "vpm.embeddings.patch_embedding.weight", "vpm.embeddings.position_embedding.weight",
            "vpm.post_layernorm.weight"} <= set(state)  # fmt: skip
    state["llm.model.rotary_emb.inv_freq"] = torch.ones(16)  # a recomputed buffer some exports carry
    write_official(tmp_path, state)

    torch.manual_seed(1)
    fresh = MiniCPMV(tiny())
    report = load_official(fresh, tmp_path)
    assert report.skipped == ["llm.model.rotary_emb.inv_freq"]
    assert len(report.mapped) == len(model.state_dict())
    assert report.summary()["resampler"] == 13
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, model.state_dict()[key].to(torch.bfloat16).float()), key


def test_unknown_key_fails_loudly(model, tmp_path):
    state = dict(model.state_dict())
    state["vpm.head.probe"] = torch.zeros(1, 1, 64)  # known prefix, no such parameter
    state["apm.layers.0.weight"] = torch.zeros(2)  # unknown prefix
    write_official(tmp_path, state)
    fresh = MiniCPMV(tiny())
    before = fresh.resampler.query.detach().clone()
    with pytest.raises(CheckpointMismatch) as err:
        load_official(fresh, tmp_path)
    assert "model has no parameter vpm.head.probe" in str(err.value)
    assert "unknown checkpoint key apm.layers.0.weight" in str(err.value)
    assert torch.equal(fresh.resampler.query, before)  # nothing copied


def test_missing_and_misshapen_keys_fail(model, tmp_path):
    state = dict(model.state_dict())
    del state["llm.lm_head.weight"]
    state["resampler.query"] = torch.zeros(32, 256)
    write_official(tmp_path, state)
    with pytest.raises(CheckpointMismatch) as err:
        load_official(MiniCPMV(tiny()), tmp_path)
    assert "checkpoint lacks llm.lm_head.weight" in str(err.value) and "shape of resampler.query" in str(err.value)


def test_key_mapping_rules():
    assert map_official_key("llm.model.layers.3.mlp.up_proj.weight") == "llm.model.layers.3.mlp.up_proj.weight"
    assert map_official_key("vpm.encoder.layers.26.self_attn.q_proj.bias").startswith("vpm.encoder.layers.26.")
    assert map_official_key("resampler.pos_embed") is None
    with pytest.raises(KeyError):
        map_official_key("model.something")
