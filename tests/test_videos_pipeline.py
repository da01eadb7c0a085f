"""The videos pipeline end to end on local Ray: generated clips and the real fixtures, accounting, read back."""
from __future__ import annotations

import glob
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


def test_records_match_the_official_policy_and_the_frames(corpus):
    import webdataset as wds

    out, _ = corpus
    shards = sorted(glob.glob(str(out / "shards" / "*.tar")))
    samples = {s["json"]["input_id"]: s for s in wds.WebDataset(shards, shardshuffle=False).decode("rgb8")}
    assert len(samples) == 6
    for v in DEMO_VIDEOS[:3]:
        s = samples[f"demo/{v.name}"]
        rec = s["json"]
        ref = official_sampling(v.n_frames, float(v.fps))
        assert rec["frame_indices"] == ref.frame_indices and rec["temporal_ids"] == ref.packages
        assert rec["frame_timestamps"] == [i / v.fps for i in ref.frame_indices]
        frames = [s[f"{i:03d}.jpg"] for i in range(len(ref.frame_indices))]
        assert [read_frame_index(f) for f in frames] == ref.frame_indices  # upright, and the frame named
        assert frames[0].shape == (v.height, v.width, 3) and rec["meta"]["rotation"] == v.rotation
    assert samples["fixtures.jsonl#00000001"]["json"]["meta"]["decoder"] == "decord+pyav"


def test_shards_readable_by_ray_data(corpus):
    import ray.data

    out, _ = corpus
    rows = ray.data.read_webdataset(sorted(glob.glob(str(out / "shards" / "*.tar")))).take_all()
    assert len(rows) == 6
    for r in rows:
        rec = r["json"]  # columns are the union over samples: read the frames the record names
        for i in range(len(rec["frame_indices"])):
            assert r[f"{i:03d}.jpg"].shape == (rec["height"], rec["width"], 3)
