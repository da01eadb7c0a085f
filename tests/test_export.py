"""`mmcorpus export`: the JSON read back names existing media with the corpus's bytes, and every
conversation equals the record's (markers mapped as the target format wants them)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from cli.main import main
from corpus.index import CorpusIndex
from corpus.range_reader import RangeReader
from corpus.tar_members import parse_members
from pipelines.export import export_corpus
from schemas.record import SampleRecord, Turn
from training_bridge.data.synthetic import write_corpus, write_shards


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (i * 30 % 256, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def _video_row(n: int, original: bool) -> dict:
    key = f"video{n:02d}"
    record = SampleRecord(key=key, task="video_qa", source="test", input_id=key,
                          conversations=[Turn("user", "<video>\nWhat moves?"), Turn("assistant", "A red square."),
                                         Turn("user", "And then?"), Turn("assistant", "It stops.")],
                          temporal_ids=[[0, 3, 6], [10, 13, 16]], frame_indices=[0, 3, 6, 10, 13, 16], fps=10.0,
                          frame_timestamps=[0.0, 0.3, 0.6, 1.0, 1.3, 1.6])
    if original:
        members = [{"ext": "mp4", "data": b"\x00\x00\x00\x18ftypmp42 not really a video " + key.encode()}]
    else:
        members = [{"ext": f"{i:03d}.jpg", "data": _jpeg(i)} for i in range(6)]
    members.append({"ext": "json", "data": record.to_json()})
    return {"input_id": key, "source": "test", "shard_id": 0, "seq": n, "key": key, "members": members,
            "task": record.task, "width": 24, "height": 16, "n_frames": 6, "text_len": 10}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    write_corpus(root / "images", [3, 2], kind="image")
    write_shards(root / "videos", [[_video_row(0, False), _video_row(1, True)], [_video_row(2, False)]])
    return {"images": root / "images", "videos": root / "videos"}


def _records(corpus: Path) -> dict[str, dict[str, bytes]]:
    index, reader = CorpusIndex.load(str(corpus)), RangeReader()
    out = {}
    for i in range(index.n_samples):
        key = index.keys[i].as_py()
        raw = reader.read(index.shard_urls[index.shard_of(i)], int(index.offsets[i]), int(index.sizes[i]))
        out[key] = parse_members(raw, key, 1 << 30)
    reader.close()
    return out


def _media_paths(entry: dict) -> list[str]:
    image = entry.get("image", [])
    paths = list(image.values()) if isinstance(image, dict) else [image] if isinstance(image, str) else list(image)
    return paths + ([entry["video"]] if "video" in entry else [])


@pytest.mark.parametrize("name", ["images", "videos"])
def test_minicpmv_export_reads_back(corpora, tmp_path, name):
    summary = export_corpus(str(corpora[name]), tmp_path / "out", "minicpmv")
    entries = json.loads(summary.json_path.read_text())
    samples = _records(corpora[name])
    assert [e["id"] for e in entries] == list(samples) and not summary.skipped
    for entry in entries:
        members = samples[entry["id"]]
        record = SampleRecord.from_json(members["json"])
        media = sorted(e for e in members if e != "json")
        assert [Path(p).read_bytes() for p in _media_paths(entry)] == [members[e] for e in media]
        expected = [{"role": t.role, "content": t.content} for t in record.conversations]
        if isinstance(entry.get("image"), dict):  # video frames: the marker names its frames, in order
            frames = "\n".join(entry["image"])
            assert list(entry["image"]) == [f"<image_{i:02d}>" for i in range(6)]
            expected[0]["content"] = expected[0]["content"].replace("<video>", frames)
        assert entry["conversations"] == expected
        if record.temporal_ids:
            assert entry["temporal_ids"] == record.temporal_ids and entry["frame_indices"] == record.frame_indices
            assert entry["fps"] == record.fps


def test_llava_export_via_cli(corpora, tmp_path):
    out = tmp_path / "llava"
    assert main(["export", str(corpora["images"]), "--format", "llava", "--out", str(out), "--relative"]) == 0
    entries = json.loads((out / "llava.json").read_text())
    samples = _records(corpora["images"])
    assert len(entries) == len(samples) == 5
    for entry in entries:
        record = SampleRecord.from_json(samples[entry["id"]]["json"])
        assert (out / entry["image"]).read_bytes() == samples[entry["id"]]["jpg"]
        assert entry["conversations"] == [{"from": "human" if t.role == "user" else "gpt", "value": t.content}
                                          for t in record.conversations]


def test_export_of_a_non_corpus_is_a_user_error(tmp_path):
    assert main(["export", str(tmp_path), "--format", "minicpmv", "--out", str(tmp_path / "o")]) == 2
