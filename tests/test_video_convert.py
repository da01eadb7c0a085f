"""`mmcorpus videos convert`: the old frame-member layout → one mp4 member, equal to a build in the new layout."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from cli.main import main
from corpus.index import CorpusIndex
from corpus.video_member import mux_frames
from schemas.record import SampleRecord, Turn
from training_bridge.data.synthetic import write_shards

TIMES = [0.0, 1 / 3, 1.0, 7 / 6]


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (40 * i % 256, 90, 10)).save(buf, "JPEG")
    return buf.getvalue()


def _row(n: int, layout: str) -> dict:
    """Sample `n`: a video (odd n) in the `layout` ("old" frame members, or "new" mp4), or an image."""
    key = f"s{n:03d}"
    video = n % 2 == 1
    record = SampleRecord(key=key, task="video_caption" if video else "caption", source="t", input_id=key,
                          conversations=[Turn("user", "<video>\nDescribe."), Turn("assistant", "ok")],
                          frame_timestamps=TIMES if video else None)
    jpegs = [_jpeg(n + i) for i in range(len(TIMES))]
    if not video:
        members = [{"ext": "jpg", "data": jpegs[0]}]
    elif layout == "old":
        members = [{"ext": f"{i:03d}.jpg", "data": j} for i, j in enumerate(jpegs)]
    else:
        members = [{"ext": "mp4", "data": mux_frames(jpegs, TIMES)}]
    members.append({"ext": "json", "data": record.to_json()})
    return {"input_id": key, "source": "t", "shard_id": 0, "seq": n, "key": key, "members": members,
            "task": record.task, "width": 24, "height": 16, "n_frames": len(TIMES) if video else None,
            "duration": 1.5 if video else None, "text_len": 2}


def _error(n: int) -> dict:
    return {"input_id": f"bad{n}", "source": "t", "shard_id": 0, "seq": n, "error_stage": "video_frames",
            "error_type": "unreadable_video", "error_message": "broken", "error_category": "quarantine"}


def _corpus(root: Path, layout: str) -> Path:
    write_shards(root / layout, [[_row(0, layout), _row(1, layout), _error(2)], [_row(3, layout)]])
    return root / layout


def _files(corpus: Path) -> dict[str, bytes]:
    return {str(p.relative_to(corpus)): p.read_bytes() for p in sorted(corpus.rglob("*")) if p.is_file()}


def test_converting_the_old_layout_gives_the_new_layout_byte_for_byte(tmp_path):
    old, new = _corpus(tmp_path, "old"), _corpus(tmp_path, "new")
    assert CorpusIndex.load(str(old)).old_frame_member == "synth-000000.tar: s001.000.jpg"
    assert main(["videos", "convert", str(old), str(tmp_path / "converted")]) == 0
    converted = _files(tmp_path / "converted")
    assert converted.keys() == _files(new).keys()
    for name, data in _files(new).items():  # tars, stats (ranges, member names), errors, manifest
        assert converted[name] == data, name
    stats = pq.read_table(tmp_path / "converted" / "stats" / "synth-000000.parquet").to_pylist()
    assert [r["members"] for r in stats] == [["s000.jpg", "s000.json"], ["s001.mp4", "s001.json"]]
    assert json.loads(converted["manifest.json"])["shards"] == json.loads(_files(new)["manifest.json"])["shards"]
    assert CorpusIndex.load(str(tmp_path / "converted")).old_frame_member is None


def test_convert_refuses_to_overwrite_a_corpus(tmp_path):
    old, new = _corpus(tmp_path, "old"), _corpus(tmp_path, "new")
    before = _files(new)
    assert main(["videos", "convert", str(old), str(new)]) == 2
    assert main(["videos", "convert", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert _files(new) == before
