"""The images pipeline end to end on local Ray: accounting, dedup decision, shards readable, resume."""
from __future__ import annotations

import glob
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines.dedup.images import DUPLICATES
from pipelines.images import ImagesConfig, build_images
from schemas.record import SampleRecord


def smooth_image(seed: int, size: tuple[int, int] = (256, 192)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ray_session):
    """A folder with sidecars plus a Parquet manifest, holding every kind of good and bad input."""
    root = tmp_path_factory.mktemp("images")
    folder = root / "photos"
    folder.mkdir()
    files = {
        "a.jpg": encode(smooth_image(1), quality=95),
        "b.jpg": encode(smooth_image(2), quality=95),
        "c_copy_of_a.jpg": encode(smooth_image(1), quality=95),  # exact duplicate of a
        "d_near_b.jpg": encode(smooth_image(2).resize((200, 150)), quality=70),  # near duplicate of b
        "e_big.png": encode(smooth_image(3, (2400, 1600)), "PNG"),  # resized to the budget
        "f_trunc.jpg": encode(smooth_image(4, (640, 480)))[:2500],  # quarantined
        "g_bomb.png": encode(Image.new("1", (10_000, 10_000)), "PNG"),  # quarantined before decoding
        "h_tiny.jpg": encode(smooth_image(5, (16, 16))),  # filtered
        "i_notext.jpg": encode(smooth_image(6)),  # filtered: no text
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
        if name != "i_notext.jpg":
            (folder / name).with_suffix(".txt").write_text(f"caption of {name}")
    (folder / "b.txt").unlink()
    (folder / "b.json").write_text(json.dumps({"conversations": [{"from": "human", "value": "What is it?"},
                                                                 {"from": "gpt", "value": "Colours."}]}))
    (root / "more.jpg").write_bytes(encode(smooth_image(7)))
    pq.write_table(pa.table({"url": ["more.jpg", "photos/a.jpg", "missing.jpg"], "caption": ["m", "a again", "x"]}),
                   root / "manifest.parquet")
    cfg = ImagesConfig()
    cfg.run.inputs_per_shard = 4
    cfg.run.progress = False
    out = root / "out"
    summary = build_images([str(folder), str(root / "manifest.parquet")], out, cfg)
    return out, summary, cfg, [str(folder), str(root / "manifest.parquet")]


def table(out, sub: str) -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in sorted(glob.glob(str(out / sub / "*.parquet")))]).to_pylist()


def test_every_input_is_accounted_for(corpus):
    out, summary, _, _ = corpus
    stats, errors = table(out, "stats"), table(out, "errors")
    assert summary.ok and summary.inputs == 12 == len(stats) + len(errors)
    assert len({r["input_id"] for r in stats} | {r["input_id"] for r in errors}) == 12
    assert all(r["text_path"] is None for r in stats)  # a docs column: images have no text path
    why = {r["input_id"]: (r["category"], r["error_type"]) for r in errors}
    assert why == {
        # the manifest names a.jpg again; its id sorts first, so it is the copy kept
        "photos/a.jpg": ("duplicate", "exact_duplicate"),
        "photos/c_copy_of_a.jpg": ("duplicate", "exact_duplicate"),
        "photos/d_near_b.jpg": ("duplicate", "near_duplicate"),
        "manifest.parquet#00000002": ("quarantine", "FileNotFoundError"),
        "photos/f_trunc.jpg": ("quarantine", "corrupt_image"),
        "photos/g_bomb.png": ("quarantine", "decompression_bomb"),
        "photos/h_tiny.jpg": ("filtered", "image_filter"),
        "photos/i_notext.jpg": ("filtered", "no_text"),
    }
    msgs = {r["input_id"]: r["message"] for r in errors}
    assert msgs["photos/d_near_b.jpg"].startswith("near-duplicate of photos/b.jpg (hamming ")
    assert msgs["photos/c_copy_of_a.jpg"] == "exact duplicate of manifest.parquet#00000001 (sha256)"
    dups = pq.read_table(out / DUPLICATES).to_pylist()
    assert {d["input_id"] for d in dups} == {k for k, v in why.items() if v[0] == "duplicate"}


def test_samples_within_budget_and_readable_by_webdataset(corpus):
    import webdataset as wds

    out, _, _, _ = corpus
    shards = sorted(glob.glob(str(out / "shards" / "*.tar")))
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("pil"))
    assert len(samples) == 4
    for s in samples:
        rec = s["json"]
        assert s["jpg"].size == (rec["width"], rec["height"]) and rec["width"] * rec["height"] <= 1344 * 1344
        assert rec["conversations"][0]["content"].startswith("<image>\n")
    big = next(s["json"] for s in samples if s["json"]["input_id"] == "photos/e_big.png")
    assert (big["meta"]["orig_width"], big["meta"]["orig_height"]) == (2400, 1600)
    assert abs(big["width"] / big["height"] - 1.5) < 0.01


def test_shards_readable_by_ray_data(corpus):
    import ray.data

    out, _, _, _ = corpus
    rows = ray.data.read_webdataset(sorted(glob.glob(str(out / "shards" / "*.tar")))).take_all()
    assert len(rows) == 4 and all(r["jpg"].ndim == 3 for r in rows)
    assert {SampleRecord(**{**r["json"], "conversations": [], "regions": []}).task for r in rows} == {"caption", "conversation"}


def test_rerun_resumes_without_work(corpus):
    out, first, cfg, inputs = corpus
    again = build_images(inputs, out, cfg)
    assert again.inputs_skipped == again.inputs == 12 and again.shards_written == 0
    assert again.totals == first.totals
