"""Hugging Face `datasets` reads our shards as they are: `load_dataset("webdataset", data_files=...)`.

Image and docs shards (one `jpg` + one `json` per sample) load, record for record. Video shards whose
samples carry different numbers of frame members (`000.jpg` ... `NNN.jpg`) are refused by `datasets`'
webdataset builder (it infers one schema from the first samples): pinned here, as the README says; read
those with webdataset, Ray Data or our loader, or export them (`mmcorpus export`)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from corpus.index import CorpusIndex
from corpus.range_reader import RangeReader
from corpus.tar_members import parse_members
from schemas.record import SampleRecord, Turn
from training_bridge.data.synthetic import write_corpus, write_shards

datasets = pytest.importorskip("datasets")


def _expected(corpus: Path) -> dict[str, dict[str, bytes]]:
    index, reader = CorpusIndex.load(str(corpus)), RangeReader()
    out = {}
    for i in range(index.n_samples):
        key = index.keys[i].as_py()
        out[key] = parse_members(reader.read(index.shard_urls[index.shard_of(i)], int(index.offsets[i]),
                                             int(index.sizes[i])), key, 1 << 30)
    reader.close()
    return out


def test_image_shards_load_with_hf_datasets(tmp_path):
    corpus = tmp_path / "images"
    write_corpus(corpus, [3, 4], kind="image")
    shards = sorted(str(p) for p in (corpus / "shards").glob("*.tar"))
    ds = datasets.load_dataset("webdataset", data_files={"train": shards}, split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    expected = _expected(corpus)
    assert len(ds) == len(expected) == 7
    for row in ds:
        members = expected[row["__key__"]]
        assert row["json"] == json.loads(members["json"])
        assert row["jpg"].size == Image.open(io.BytesIO(members["jpg"])).size


def _frames_row(n: int, frames: int) -> dict:
    key = f"clip{n:02d}"
    record = SampleRecord(key=key, task="video_caption", source="t", input_id=key,
                          conversations=[Turn("user", "<video>\nDescribe."), Turn("assistant", "ok")],
                          temporal_ids=[[i] for i in range(frames)])
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG")
    members = [{"ext": f"{i:03d}.jpg", "data": buf.getvalue()} for i in range(frames)]
    members.append({"ext": "json", "data": record.to_json()})
    return {"input_id": key, "source": "t", "shard_id": 0, "seq": n, "key": key, "members": members,
            "task": record.task, "width": 8, "height": 8, "n_frames": frames, "text_len": 2}


def test_video_shards_with_varying_frame_counts_are_refused_by_hf_datasets(tmp_path):
    corpus = tmp_path / "videos"
    write_shards(corpus, [[_frames_row(0, 2), _frames_row(1, 5)]])
    shards = sorted(str(p) for p in (corpus / "shards").glob("*.tar"))
    with pytest.raises(Exception, match="same prefix or the same types"):
        ds = datasets.load_dataset("webdataset", data_files={"train": shards}, split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
        list(ds)
