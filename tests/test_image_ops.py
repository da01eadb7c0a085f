"""Image operators without Ray: decode/verify, EXIF, bomb guard, resize, filters, inputs, samples (dedup:
`tests/test_image_dedup.py`)."""
from __future__ import annotations

import io
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from operators.images.ops import PIXEL_BUDGET, ImageDecode, ImageDecodeConfig, ImageFilter, ImageFilterConfig
from operators.images.samples import ImageSample
from operators.manifest_inputs import collect_inputs
from operators.media_io import fit_within
from operators.media_text import conversation_from_meta
from schemas.record import TASK_CAPTION, TASK_CONVERSATION, SampleRecord
from schemas.tables import FILTERED, QUARANTINE


def smooth_image(seed: int, size: tuple[int, int] = (256, 192)) -> Image.Image:
    """A photo-like image: low-frequency random colour field, distinct per seed."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    return small.resize(size, Image.Resampling.BICUBIC)


def jpeg(img: Image.Image, quality: int = 92, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, **kw)
    return buf.getvalue()


def write(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def row(input_id: str, source: str, meta: dict | None = None) -> dict:
    return dict(input_id=input_id, source=source, shard_id=0, seq=0, kind="image",
                meta_json=json.dumps({"caption": "a test image"} if meta is None else meta))


def decode_one(source: str, cfg: ImageDecodeConfig | None = None) -> dict:
    return ImageDecode(cfg)([row("x", source)]).to_pylist()[0]


def test_decode_resizes_within_budget_keeping_aspect(tmp_path):
    src = write(tmp_path, "big.jpg", jpeg(smooth_image(1, (3000, 2000))))
    out = decode_one(src)
    assert out["error_type"] is None
    assert out["width"] * out["height"] <= PIXEL_BUDGET
    assert abs(out["width"] / out["height"] - 1.5) < 0.01
    assert (out["orig_width"], out["orig_height"]) == (3000, 2000)
    assert Image.open(io.BytesIO(out["image"])).size == (out["width"], out["height"])
    assert fit_within(100, 50, 10_000) == (100, 50)


def test_small_rgb_jpeg_keeps_its_bytes(tmp_path):
    data = jpeg(smooth_image(2))
    out = decode_one(write(tmp_path, "a.jpg", data))
    assert out["image"] == data and out["orientation"] == 1


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, :100] = (255, 0, 0)  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    out = decode_one(write(tmp_path, "r.jpg", jpeg(Image.fromarray(arr), exif=exif.tobytes())))
    assert out["orientation"] == 6 and (out["width"], out["height"]) == (100, 200)
    img = np.asarray(Image.open(io.BytesIO(out["image"])))
    assert img[20, 50, 0] > 200 and img[180, 50, 0] < 60  # stored left half is now on top


def test_alpha_is_composited_on_white(tmp_path):
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(buf, format="PNG")
    out = decode_one(write(tmp_path, "t.png", buf.getvalue()))
    assert np.asarray(Image.open(io.BytesIO(out["image"]))).min() > 240


@pytest.mark.parametrize(
    "name,data,error_type",
    [
        ("trunc.jpg", jpeg(smooth_image(3, (800, 600)))[:4000], "corrupt_image"),
        ("noise.jpg", bytes(random.Random(0).randbytes(5000)), "unreadable_image"),
        ("empty.png", b"", "unreadable_image"),
    ],
)
def test_bad_images_are_quarantined(tmp_path, name, data, error_type):
    out = decode_one(write(tmp_path, name, data))
    assert (out["error_category"], out["error_type"], out["error_stage"]) == (QUARANTINE, error_type, "image_decode")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")  # 100 MP in ~12 kB
    out = decode_one(write(tmp_path, "bomb.png", buf.getvalue()))
    assert (out["error_category"], out["error_type"]) == (QUARANTINE, "decompression_bomb")
    small = decode_one(write(tmp_path, "s.jpg", jpeg(smooth_image(4))), ImageDecodeConfig(max_source_pixels=1000))
    assert small["error_type"] == "decompression_bomb"


def test_missing_file_is_quarantined(tmp_path):
    out = decode_one(str(tmp_path / "nope.jpg"))
    assert out["error_type"] == "FileNotFoundError" and out["error_category"] == QUARANTINE


def test_size_and_aspect_filter():
    f = ImageFilter(ImageFilterConfig(min_side=32, max_aspect=4.0))
    rows = [dict(input_id=i, source=i, shard_id=0, seq=0, orig_width=w, orig_height=h)
            for i, (w, h) in {"ok": (100, 50), "tiny": (20, 300), "long": (1000, 100)}.items()]
    out = {r["input_id"]: r for r in f(rows).to_pylist()}
    assert out["ok"]["error_type"] is None
    assert out["tiny"]["error_category"] == FILTERED and "below 32" in out["tiny"]["error_message"]
    assert "aspect ratio 10.0" in out["long"]["error_message"]


def test_collect_inputs_from_manifests_and_folders(tmp_path):
    img = jpeg(smooth_image(7))
    (tmp_path / "imgs").mkdir()
    for n in ("x", "y", "z"):
        (tmp_path / "imgs" / f"{n}.jpg").write_bytes(img)
    (tmp_path / "imgs" / "x.txt").write_text("a caption\n")
    (tmp_path / "imgs" / "y.json").write_text(json.dumps({"conversations": [{"from": "human", "value": "Q?"},
                                                                            {"from": "gpt", "value": "A."}], "lic": "cc"}))
    pq.write_table(pa.table({"image": ["imgs/x.jpg", None], "caption": ["c1", "c2"], "score": [0.5, 0.7]}),
                   tmp_path / "m.parquet")
    (tmp_path / "m.jsonl").write_text(json.dumps({"url": "s3://bucket/k.jpg", "text": "t"}) + "\n")
    (tmp_path / "m.csv").write_text('path,conversations\nimgs/y.jpg,"[{""role"": ""user"", ""content"": ""hi""}]"\n')
    items = collect_inputs([tmp_path / "imgs", tmp_path / "m.parquet", tmp_path / "m.jsonl", tmp_path / "m.csv"], "image")
    by_id = {i.input_id: i for i in items}
    assert list(by_id) == ["imgs/x.jpg", "imgs/y.jpg", "imgs/z.jpg", "m.parquet#00000000", "m.parquet#00000001",
                           "m.jsonl#00000000", "m.csv#00000000"]
    assert by_id["imgs/x.jpg"].meta == {"caption": "a caption"}
    assert by_id["imgs/y.jpg"].meta["extra"] == {"lic": "cc"} and len(by_id["imgs/y.jpg"].meta["conversations"]) == 2
    assert by_id["imgs/z.jpg"].meta == {}
    assert by_id["m.parquet#00000000"].source == str((tmp_path / "imgs" / "x.jpg").resolve())
    assert by_id["m.parquet#00000000"].meta == {"caption": "c1", "extra": {"score": 0.5}}
    assert by_id["m.parquet#00000001"].source == "null"  # kept, to be quarantined by the pipeline
    assert by_id["m.jsonl#00000000"].source == "s3://bucket/k.jpg"
    assert by_id["m.csv#00000000"].meta["conversations"] == [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match="appears twice"):
        collect_inputs([tmp_path / "imgs", tmp_path / "imgs"], "image")


def test_conversations_are_normalised():
    task, turns = conversation_from_meta({"caption": " a cat "}, "image")
    assert task == TASK_CAPTION and turns[0].content == "<image>\nDescribe this image." and turns[1].content == "a cat"
    task, turns = conversation_from_meta(
        {"conversations": [{"from": "human", "value": "What?"}, {"from": "gpt", "value": "This."},
                           {"from": "human", "value": "<image>\nMore?"}, {"from": "gpt", "value": "No."}]}, "image")
    assert task == TASK_CONVERSATION and [t.content for t in turns] == ["<image>\nWhat?", "This.", "More?", "No."]
    _, turns = conversation_from_meta({"qa": [{"q": "When?", "a": "Now."}]}, "video")
    assert turns[0].content == "<video>\nWhen?"
    with pytest.raises(ValueError):
        conversation_from_meta({}, "image")


def test_image_sample_writes_image_and_record(tmp_path):
    decoded = ImageDecode()([row("in/1", write(tmp_path, "a.jpg", jpeg(smooth_image(8)))),
                             row("in/2", write(tmp_path, "b.jpg", jpeg(smooth_image(9))), meta={})])
    out = ImageSample()(decoded).to_pylist()
    s, nt = out
    assert [m["ext"] for m in s["members"]] == ["jpg", "json"] and s["task"] == TASK_CAPTION
    rec = SampleRecord.from_json(s["members"][1]["data"])
    assert rec.key == s["key"] and rec.input_id == "in/1" and (rec.width, rec.height) == (256, 192)
    assert rec.conversations[1].content == "a test image" and rec.meta["sha256"]
    assert (nt["error_category"], nt["error_type"]) == (FILTERED, "no_text")
