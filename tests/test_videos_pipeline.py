"""The videos pipeline end to end on local Ray: generated clips and the real fixtures, accounting, read back."""
from __future__ import annotations

import glob
import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from corpus.video_member import demux_frames
from model.video_sampling import official_sampling
from pipelines.demo.videos import DEMO_VIDEOS, read_frame_index, write_demo_videos
from pipelines.videos import VideosConfig, build_videos


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ray_session, shared_fixtures):
    """Demo clips (sidecar text), the three fixtures through a JSONL manifest, and a junk file."""
    root = tmp_path_factory.mktemp("videos")
    write_demo_videos(root / "demo", DEMO_VIDEOS[:3])
    (root / "demo" / "junk.mp4").write_bytes(os.urandom(20_000))
    (root / "demo" / "junk.txt").write_text("never decoded")
    fixtures = shared_fixtures / "videos"
    manifest = root / "fixtures.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in [
        {"video": str(fixtures / "flipping_a_pancake.mkv"), "caption": "Someone flips a pancake."},
        {"video": str(fixtures / "corrupted.mp4"), "question": "Is it damaged?", "answer": "Yes."},
        {"video": str(fixtures / "video_90.mov"), "caption": "A phone clip."},
    ]))
    cfg = VideosConfig()
    cfg.run.inputs_per_shard = 3
    cfg.run.progress = False
    out = root / "out"
    return out, build_videos([str(root / "demo"), str(manifest)], out, cfg)


def table(out, sub: str) -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in sorted(glob.glob(str(out / sub / "*.parquet")))]).to_pylist()


def test_every_video_is_accounted_for(corpus):
    out, summary = corpus
    stats, errors = table(out, "stats"), table(out, "errors")
    assert summary.ok and summary.inputs == 7 == len(stats) + len(errors)
    assert all(r["text_path"] is None for r in stats)  # a docs column: videos have no text path
    assert [(e["input_id"], e["category"], e["error_type"]) for e in errors] == [
        ("demo/junk.mp4", "quarantine", "unreadable_video")]
    by_id = {s["input_id"]: s for s in stats}
    assert by_id["fixtures.jsonl#00000000"]["n_frames"] == 31 and by_id["fixtures.jsonl#00000001"]["task"] == "video_qa"
    assert (by_id["fixtures.jsonl#00000002"]["width"], by_id["fixtures.jsonl#00000002"]["height"]) == (320, 568)


def _frames(data: bytes) -> list[np.ndarray]:
    """The RGB frames of an mp4 frames member: demuxed JPEGs, decoded."""
    return [np.asarray(Image.open(io.BytesIO(j)).convert("RGB")) for j in demux_frames(data, "sample.mp4")[0]]


def test_records_match_the_official_policy_and_the_frames(corpus):
    import webdataset as wds

    out, _ = corpus
    shards = sorted(glob.glob(str(out / "shards" / "*.tar")))
    # decoders for the two member types only: no default handlers (they would unpickle .pyd/.pickle members)
    dataset = wds.WebDataset(shards, shardshuffle=False).decode(
        wds.handle_extension("mp4", _frames), wds.handle_extension("json", json.loads), post=[])
    samples = {s["json"]["input_id"]: s for s in dataset}
    assert len(samples) == 6
    assert all(sorted(k for k in s if not k.startswith("__")) == ["json", "mp4"] for s in samples.values())
    for v in DEMO_VIDEOS[:3]:
        s = samples[f"demo/{v.name}"]
        rec = s["json"]
        ref = official_sampling(v.n_frames, float(v.fps))
        assert rec["frame_indices"] == ref.frame_indices and rec["temporal_ids"] == ref.packages
        assert rec["frame_timestamps"] == [i / v.fps for i in ref.frame_indices]
        frames = s["mp4"]
        assert [read_frame_index(f) for f in frames] == ref.frame_indices  # upright, and the frame named
        assert frames[0].shape == (v.height, v.width, 3) and rec["meta"]["rotation"] == v.rotation
    assert samples["fixtures.jsonl#00000001"]["json"]["meta"]["decoder"] == "decord+pyav"


def test_shards_readable_by_ray_data(corpus):
    import ray.data

    out, _ = corpus
    rows = ray.data.read_webdataset(sorted(glob.glob(str(out / "shards" / "*.tar")))).take_all()
    assert len(rows) == 6 and all(set(r) >= {"mp4", "json"} for r in rows)  # one column set for every video
    for r in rows:
        rec = r["json"]
        jpegs, times = demux_frames(r["mp4"], f"{r['__key__']}.mp4")
        assert len(jpegs) == len(rec["frame_indices"]) and np.allclose(times, rec["frame_timestamps"], atol=1e-5)
        assert Image.open(io.BytesIO(jpegs[-1])).size == (rec["width"], rec["height"])


def test_the_bridge_decodes_the_frames_the_pipeline_chose(corpus):
    from corpus.index import CorpusIndex
    from corpus.range_reader import RangeReader
    from corpus.tar_members import parse_members
    from training_bridge.data.config import DataConfig
    from training_bridge.data.decode import decode_sample

    out, _ = corpus
    index, reader = CorpusIndex.load(str(out)), RangeReader()
    index.require_video_member()
    seen = {}
    for i in range(index.n_samples):
        key = index.keys[i].as_py()
        raw = reader.read(index.shard_urls[index.shard_of(i)], int(index.offsets[i]), int(index.sizes[i]))
        record, images = decode_sample(parse_members(raw, key, 1 << 30), DataConfig().decode)
        assert len(images) == len(record.frame_indices) == sum(len(p) for p in record.temporal_ids)
        seen[record.input_id] = (record, images)
    reader.close()
    for v in DEMO_VIDEOS[:3]:
        record, images = seen[f"demo/{v.name}"]
        assert [read_frame_index(np.asarray(im.convert("RGB"))) for im in images] == record.frame_indices
