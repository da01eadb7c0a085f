"""Hugging Face `datasets` reads our shards as they are: `load_dataset("webdataset", data_files=...)`.

Image and docs shards (one `jpg` + one `json` per sample) load, record for record; so do video corpora
built by the pipeline, whose samples hold one `mp4` member (typed `Video()` by `datasets`) and one `json`,
however many frames each video has. `Video()` decoding needs torchcodec (not installed here: the registry's
build is CUDA-only); read the bytes with `Video(decode=False)` and demux the frames with
`corpus.video_member.demux_frames`, or decode with decord or PyAV."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.index import CorpusIndex
from corpus.range_reader import RangeReader
from corpus.tar_members import parse_members
from corpus.video_member import demux_frames
from pipelines.demo.videos import DEMO_VIDEOS, read_frame_index, write_demo_videos
from training_bridge.data.synthetic import write_corpus

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


@pytest.fixture(scope="module")
def video_corpus(ray_session, tmp_path_factory) -> Path:
    """Three demo clips (300, 150 and 96 frames: 30, 18 and 12 sampled) built by the videos pipeline."""
    from pipelines.videos import VideosConfig, build_videos

    root = tmp_path_factory.mktemp("hf-videos")
    write_demo_videos(root / "demo", DEMO_VIDEOS[:3])
    cfg = VideosConfig()
    cfg.run.inputs_per_shard, cfg.run.progress = 2, False
    assert build_videos([str(root / "demo")], root / "out", cfg).ok
    return root / "out"


def test_video_corpora_load_with_hf_datasets_record_for_record(video_corpus, tmp_path):
    shards = sorted(str(p) for p in (video_corpus / "shards").glob("*.tar"))
    ds = datasets.load_dataset("webdataset", data_files={"train": shards}, split="train",
                               cache_dir=str(tmp_path / "hf-cache"))
    assert isinstance(ds.features["mp4"], datasets.Video) and set(ds.column_names) == {"mp4", "json", "__key__", "__url__"}
    ds = ds.cast_column("mp4", datasets.Video(decode=False))  # decoding would need torchcodec
    expected = _expected(video_corpus)
    assert len(ds) == len(expected) == 3
    counts = []
    for row in ds:
        members = expected[row["__key__"]]
        assert row["json"] == json.loads(members["json"])
        assert row["mp4"]["bytes"] == members["mp4"] and row["mp4"]["path"] == f"{row['__key__']}.mp4"
        jpegs, times = demux_frames(row["mp4"]["bytes"], row["mp4"]["path"])
        assert [read_frame_index(np.asarray(Image.open(io.BytesIO(j)))) for j in jpegs] == row["json"]["frame_indices"]
        assert np.allclose(times, row["json"]["frame_timestamps"], atol=1e-5)
        counts.append(len(jpegs))
    assert sorted(counts) == [12, 18, 30]  # one schema, whatever the frame count
