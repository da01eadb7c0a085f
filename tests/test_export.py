"""`mmcorpus export`: every entry has the shape its target loader relies on (see tests/export_corpora.py),
names media with the corpus's bytes, and every sample is either written or counted under a skip reason."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cli.main import main
from corpus.video_member import mux_frames
from model.config import full
from model.processor import MiniCPMVProcessor
from pipelines.export import ExportConfig, LengthConfig, export_corpus
from pipelines.export.media import sample_media
from pipelines.export.minicpmv_length import MiniCPMVLength
from schemas.record import SampleRecord, Turn
from tests.export_corpora import (
    assert_llava_shape,
    assert_minicpmv_shape,
    assert_onevision_shape,
    jpeg,
    mixed_corpus,
    original_mp4,
    read_samples,
)
from training_bridge.data.synthetic import write_corpus, write_shards

SHAPES = {"minicpmv": assert_minicpmv_shape, "llava": assert_llava_shape, "llava-onevision": assert_onevision_shape}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return mixed_corpus(tmp_path_factory.mktemp("export") / "mixed")


def _export(corpus: Path, out: Path, fmt: str, **length) -> tuple[list[dict], dict]:
    summary = export_corpus(str(corpus), out, ExportConfig(fmt, length=LengthConfig(**length)))
    entries = json.loads(summary.json_path.read_text())
    assert summary.samples == len(entries) and summary.samples + sum(summary.skipped.values()) == 9
    assert summary.corpus_samples == 9 and not list(out.glob("*.partial"))
    return entries, dict(summary.skipped)


def _paths(entry: dict) -> list[str]:
    image = entry.get("image", [])
    paths = list(image.values()) if isinstance(image, dict) else [image] if isinstance(image, str) else image
    return paths + ([entry["video"]] if "video" in entry else [])


@pytest.mark.parametrize("fmt, written, skipped", [
    ("minicpmv", ["img00", "img01", "img02", "two03", "txt04", "vid05"],
     {"over_max_length": 1, "minicpmv_video_container": 1, "turns": 1}),
    ("llava", ["img00", "img01", "img02", "txt04"], {"llava_multi_image": 1, "llava_video": 3, "turns": 1}),
    ("llava-onevision", ["img00", "img01", "img02", "two03", "txt04", "vid05", "vid06", "vid07"], {"turns": 1}),
])
def test_every_sample_is_written_in_its_loaders_shape_or_counted(corpus, tmp_path, fmt, written, skipped):
    entries, skips = _export(corpus, tmp_path / fmt, fmt)
    assert [e["id"] for e in entries] == written and skips == skipped
    samples = read_samples(corpus)
    for entry in entries:
        SHAPES[fmt](entry)
        media = sample_media(samples[entry["id"]])  # a video's frames: its mp4 member's packets, byte for byte
        expected = [media.container.data] if "video" in entry else [m.data for m in media.frames or media.images]
        assert [Path(p).read_bytes() for p in _paths(entry)] == expected
    media_files = sum(len(_paths(e)) for e in entries)
    assert len(list((tmp_path / fmt / "media").rglob("*.*"))) == media_files  # nothing written for skips


def test_minicpmv_entries(corpus, tmp_path):
    entries = {e["id"]: e for e in _export(corpus, tmp_path, "minicpmv")[0]}
    assert entries["img00"]["image"].endswith("img00.jpg")
    assert entries["img00"]["conversations"][0]["content"] == "<image>\nRead it."
    assert entries["img02"]["conversations"][0]["content"] == "What is it?"  # the loader prepends the image
    assert list(entries["img01"]["image"]) == ["<image_00>"]  # marker in a later turn: only names reach there
    assert entries["img01"]["conversations"][2]["content"] == "<image_00> and now?"
    assert entries["txt04"]["image"] == {} and entries["txt04"]["conversations"][1]["content"] == "Hi."
    video = entries["vid05"]
    names = [f"<image_{i:02d}>" for i in range(6)]
    assert list(video["image"]) == names and video["conversations"][0]["content"] == "\n".join(names) + "\nWhat moves?"
    record = SampleRecord.from_json(read_samples(corpus)["vid05"]["json"])
    assert video["temporal_ids"] == record.temporal_ids and video["frame_timestamps"] == record.frame_timestamps


def test_over_max_length_is_named_and_a_larger_limit_keeps_it(corpus, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        _, skips = _export(corpus, tmp_path / "a", "minicpmv")
    assert skips["over_max_length"] == 1
    assert any("vid06" in r.getMessage() and "max-length 2048" in r.getMessage() for r in caplog.records)
    entries, skips = _export(corpus, tmp_path / "b", "minicpmv", max_length=4096)
    assert "over_max_length" not in skips and len(entries[-1]["image"]) == 31


def test_placeholder_tokens_match_the_models_processor():
    """64 query tokens per image and per slice, the slicing grid of `model.processor` (the released rules)."""
    length = MiniCPMVLength(LengthConfig())
    processor = MiniCPMVProcessor.from_config(full())
    sizes = {"<image_00>": (24, 16), "<image_01>": (1344, 896), "<image_02>": (3000, 600), "<image_03>": (900, 900)}
    places = length.placeholders(sizes)
    for name, size in sizes.items():
        assert places[name].count("<unk>") == processor.image_token_count(size)
    assert [p.startswith("<image_id>") for p in places.values()] == [False, True, True, True]
    assert "<image_id>2</image_id>" in places["<image_03>"]  # ids count sliced images only, as dataset.py


def test_bound_without_tokenizer_counts_every_byte():
    length = MiniCPMVLength(LengthConfig())
    turns = [{"role": "user", "content": "<image_00>\nhé"}, {"role": "assistant", "content": "ok"}]
    # dataset.py joins the split parts with "\n": "" + "\n" + placeholder + "\n" + "\nhé". Specials: the 66
    # placeholder tokens, 2 <|im_start|>, 2 <|im_end|>; bytes: "user\n" (5), "\n" "\n" "\nhé" (6), "\n" (1),
    # "assistant\n" (10), "ok" (2), "\n" (1), and the empty thinking block "<think>\n\n</think>\n\n" (19)
    assert length.count({"<image_00>": (24, 16)}, turns) == 66 + 4 + 5 + 6 + 1 + 10 + 2 + 1 + 19


def test_cli_prints_the_summary_and_refuses_bad_input(corpus, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        assert main(["export", str(corpus), "--format", "llava", "--out", str(tmp_path / "o"), "--relative"]) == 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "4 of 9 samples written" in text and "skipped 3: llava_video" in text
    entries = json.loads((tmp_path / "o" / "llava.json").read_text())
    assert all((tmp_path / "o" / e["image"]).is_file() for e in entries if "image" in e)
    assert main(["export", str(tmp_path), "--format", "minicpmv", "--out", str(tmp_path / "p")]) == 2
    assert main(["export", str(corpus), "--format", "minicpmv", "--out", str(tmp_path / "q"), "--max-length", "0"]) == 2
    assert main(["export", str(corpus), "--format", "minicpmv", "--out", str(tmp_path / "r"),
                 "--tokenizer", str(tmp_path / "none")]) == 2


def test_image_corpus_exports_every_sample(tmp_path):
    write_corpus(tmp_path / "images", [3, 2], kind="image")
    for fmt, check in SHAPES.items():
        summary = export_corpus(str(tmp_path / "images"), tmp_path / fmt, ExportConfig(fmt))
        entries = json.loads(summary.json_path.read_text())
        assert len(entries) == 5 and not summary.skipped
        for entry in entries:
            check(entry)


def test_sample_media_takes_a_videos_frames_out_of_its_mp4_member_byte_for_byte():
    jpegs = [jpeg(i) for i in range(5)]
    media = sample_media({"mp4": mux_frames(jpegs, [0.5, 1.0, 1.5, 4.0, 4.5]), "json": b"{}", "png": b"p"})
    assert [m.data for m in media.frames] == jpegs and [m.ext for m in media.frames][:2] == ["000.jpg", "001.jpg"]
    assert media.frame_times == [0.5, 1.0, 1.5, 4.0, 4.5] and media.frame_rate == 1.0
    assert media.container.ext == "mp4" and [m.ext for m in media.images] == ["png"] and media.is_video
    original = sample_media({"mp4": original_mp4(3), "json": b"{}"})
    assert original.frames == [] and original.container is not None and original.is_video


def test_onevision_lists_the_frames_of_a_video_too_sparse_for_its_decord_step(tmp_path):
    from tests.export_corpora import row

    times = [i * 4.0 for i in range(6)]  # 0.25 fps: round(0.25 / video_fps 1) = 0, a range() step of 0
    sparse = row("sparse", [Turn("user", "<video>\nWhat happens?"), Turn("assistant", "Little.")],
                 [{"ext": "mp4", "data": mux_frames([jpeg(i) for i in range(6)], times)}], 0,
                 frame_timestamps=times, meta={"store": "frames"})
    write_shards(tmp_path / "c", [[sparse]])
    summary = export_corpus(str(tmp_path / "c"), tmp_path / "o", ExportConfig("llava-onevision"))
    (entry,) = json.loads(summary.json_path.read_text())
    assert "video" not in entry and len(entry["image"]) == 6
    assert entry["conversations"][0]["value"].count("<image>") == 6


def test_a_corpus_in_the_old_frame_layout_is_refused_naming_the_converter(tmp_path):
    from corpus.errors import UserError
    from tests.export_corpora import row

    old = row("old00", [Turn("user", "<video>\nWhat moves?"), Turn("assistant", "Nothing.")],
              [{"ext": f"{i:03d}.jpg", "data": jpeg(i)} for i in range(3)], 0)
    write_shards(tmp_path / "old", [[old]])
    with pytest.raises(UserError, match="old00.000.jpg.*mmcorpus videos convert"):
        export_corpus(str(tmp_path / "old"), tmp_path / "o", ExportConfig("minicpmv"))
    assert not (tmp_path / "o" / "minicpmv.json").exists()
