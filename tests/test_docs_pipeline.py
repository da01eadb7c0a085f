"""The docs pipeline end to end through Ray Data: shards, stats, errors, determinism, resume."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest
from PIL import Image, ImageDraw

from corpus.errors import UserError
from corpus.manifest import Manifest
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig


def _cfg(seed: int = 0) -> DocsConfig:
    cfg = DocsConfig(run=RunConfig(num_cpus=2, inputs_per_shard=3, seed=seed, progress=False))
    cfg.pages.dpi = 96
    cfg.samples.corrupt_samples, cfg.samples.transcribe_fraction = 2, 1.0  # every task on every page
    return cfg


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory) -> list[str]:
    """Four generated documents: two text-layer PDFs, a two-column one, and a scan (OCR path)."""
    d = tmp_path_factory.mktemp("demo_in")
    files = generate_demo_corpus(d)
    pick = [p for p in files if p.suffix == ".pdf" and "scan" not in p.name][:3]
    pick += [p for p in files if p.name == "scan-01.png"]
    return [str(p) for p in pick]


@pytest.fixture(scope="module")
def built(ray_session, demo_inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs_corpus")
    summary = build_docs(demo_inputs, out, _cfg())
    assert summary.ok and summary.samples > 0
    return out


def _tar_digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "shards").glob("*.tar"))}


def test_every_input_has_samples_and_tasks_cover_all_levels(built, demo_inputs):
    stats = pq.read_table(built / "stats").to_pylist()
    assert len({r["input_id"] for r in stats}) == len(demo_inputs)
    tasks = {r["task"] for r in stats}
    assert {"ocr", "reconstruct", "infer_masked", "transcribe_page"} <= tasks
    levels = {(r["task"], r["noise_level"]) for r in stats}
    assert ("ocr", "light") in levels and ("infer_masked", "masked") in levels and ("transcribe_page", "none") in levels
    scan = [r for r in stats if r["source"].endswith("scan-01.png")]
    assert scan and all(r["text_len"] > 0 for r in scan)


def test_shards_read_back_with_webdataset(built):
    import webdataset as wds

    stats = {r["key"]: r for r in pq.read_table(built / "stats").to_pylist()}
    urls = [str(p) for p in sorted((built / "shards").glob("*.tar"))]
    seen = 0
    for sample in wds.WebDataset(urls, shardshuffle=False).decode("pil"):
        rec = sample["json"]
        assert rec["key"] == sample["__key__"] and sample["__key__"] in stats
        assert sample["jpg"].size == (stats[rec["key"]]["width"], stats[rec["key"]]["height"])
        conv = rec["conversations"]
        assert conv[0]["role"] == "user" and conv[0]["content"].startswith("<image>\n")
        assert conv[1]["role"] == "assistant" and conv[1]["content"].strip()
        seen += 1
    assert seen == len(stats)


def test_shards_read_back_with_ray_data(built):
    import ray.data

    ds = ray.data.read_webdataset(str(built / "shards"), decoder=None)
    rows = ds.take_all()
    n_stats = pq.read_metadata(next((built / "stats").glob("*.parquet"))).num_rows
    assert len(rows) == sum(pq.read_metadata(p).num_rows for p in (built / "stats").glob("*.parquet")) >= n_stats
    assert all(r["jpg"][:2] == b"\xff\xd8" for r in rows)


def test_same_seed_same_keys_and_bytes_other_seed_differs(ray_session, built, demo_inputs, tmp_path):
    again = build_docs(demo_inputs, tmp_path / "again", _cfg(seed=0))
    assert again.ok
    assert _tar_digests(tmp_path / "again") == _tar_digests(built)
    other = build_docs(demo_inputs, tmp_path / "other", _cfg(seed=1))
    assert other.ok and _tar_digests(tmp_path / "other") != _tar_digests(built)
    config = Manifest.load(tmp_path / "other").runs[-1]["config"]
    assert config["run"]["seed"] == config["samples"]["seed"] == 1  # the recorded config is the one that ran


def _stage_figures(out: Path) -> list[dict]:
    """The run entry's per-operator figures, checked against its counts: rows flow from one operator to
    the next (error rows pass uncounted) and every error row is one operator's rejection."""
    run = Manifest.load(out).runs[-1]
    stages, counts = run["stages"], run["counts"]
    assert [s["operator"] for s in stages] == ["SplitDocuments", "PdfPages", "OcrRegions", "DropDuplicatePages", "RegionFilter",
                                                  "PageLanguage", "DocSamples"]
    assert stages[0]["rows_in"] == counts["inputs"] and stages[-1]["rows_out"] == counts["samples"]
    assert all(b["rows_in"] == a["rows_out"] for a, b in zip(stages, stages[1:]))
    assert sum(n for s in stages for n in s["rejected"].values()) == counts["errors"]
    return stages


def test_run_entry_counts_rows_and_seconds_per_operator(built):
    stages = _stage_figures(built)
    assert all(s["seconds"] >= 0 for s in stages) and stages[1]["seconds"] > 0  # rendering takes time


def test_driver_receives_one_small_row_per_shard(ray_session, built, demo_inputs, tmp_path):
    """Sample bytes go from the shard tasks to the store; the driver gets summary rows only."""
    summary = build_docs(demo_inputs, tmp_path / "again", _cfg())
    tar_bytes = sum(p.stat().st_size for p in (tmp_path / "again" / "shards").glob("*.tar"))
    assert summary.ok and 0 < summary.driver_bytes < 1024 * summary.shards_written
    assert summary.driver_bytes * 100 < tar_bytes


def test_resume_skips_completed_shards_and_redoes_partial_ones(ray_session, built, demo_inputs, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(built, out)
    shard_files = sorted((out / "stats").glob("*.parquet"))
    assert len(shard_files) >= 2
    # a crash after the tar of the last shard was renamed but before its stats were written (and before
    # the manifest recorded it), and a half-written temp tar left behind
    shard_files[-1].unlink()
    m = Manifest.load(out)
    m.shards.pop(shard_files[0].stem)
    m.save(out)
    (out / "shards" / ".tmp-docs-000099.tar").write_bytes(b"partial")
    summary = build_docs(demo_inputs, out, _cfg())
    assert summary.ok and summary.shards_written == 1 and summary.inputs_skipped > 0
    assert _tar_digests(out) == _tar_digests(built)
    assert not list((out / "shards").glob(".tmp-*"))
    keys = [r["key"] for r in pq.read_table(out / "stats").to_pylist()]
    assert sorted(keys) == sorted(r["key"] for r in pq.read_table(built / "stats").to_pylist())
    assert Manifest.load(out).totals()["samples"] == len(keys)


def test_changed_inputs_are_refused(ray_session, built, demo_inputs):
    with pytest.raises(UserError, match="different inputs"):
        build_docs(demo_inputs[:2], built, _cfg())


def test_fixtures_quarantine_and_accounting(ray_session, shared_fixtures, tmp_path):
    pdfs = shared_fixtures / "pdfs"
    summary = build_docs([str(pdfs)], tmp_path / "fx", _cfg())
    assert summary.ok
    inputs = {p.name for p in pdfs.glob("*.pdf")}
    stats = pq.read_table(tmp_path / "fx" / "stats").to_pylist()
    errors = pq.read_table(tmp_path / "fx" / "errors").to_pylist()
    with_samples = {Path(r["source"]).name for r in stats}
    with_errors = {Path(r["source"]).name for r in errors}
    assert with_samples | with_errors == inputs  # every input accounted for
    assert {"tracemonkey.pdf", "alphatrans.pdf"} <= with_samples
    assert {r["page_index"] for r in stats if r["source"].endswith("tracemonkey.pdf")} == set(range(14))
    quarantined = {Path(r["source"]).name: r for r in errors if r["category"] == "quarantine"}
    assert {"encrypted-attachment.pdf", "poppler-742-0-fuzzed.pdf", "Pages-tree-refs.pdf"} <= set(quarantined)
    assert "password" in quarantined["encrypted-attachment.pdf"]["message"]
    assert all(r["stage"] and r["message"] for r in errors)
    rejected = {k: n for s in _stage_figures(tmp_path / "fx") for k, n in s["rejected"].items()}
    n_quarantined = sum(r["category"] == "quarantine" for r in errors)
    assert sum(n for k, n in rejected.items() if k.startswith("quarantine:")) == n_quarantined


def _words_png(lines: list[str], size: tuple[int, int]) -> bytes:
    """A picture of lines of words (what a scan or a figure with text looks like)."""
    img = Image.new("RGB", size, "white")
    for k, text in enumerate(lines):
        ImageDraw.Draw(img).text((10, 20 + 50 * k), text, fill="black", font_size=28)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _record_text_paths(out: Path) -> dict[str, str]:
    """`meta.text_path` of every sample record in the corpus's tars, by key."""
    paths = {}
    for tar in (out / "shards").glob("*.tar"):
        with tarfile.open(tar) as tf:
            for m in tf.getmembers():
                if m.name.endswith(".json"):
                    rec = json.loads(tf.extractfile(m).read())
                    paths[rec["key"]] = rec["meta"]["text_path"]
    return paths


def test_text_paths_are_counted_in_duckdb(ray_session, tmp_path):
    """Every text path in the stats table, equal to the sample records, queried through the catalog and drawn
    in the report: a text-layer PDF, a text-layer page with a picture of words (mixed) and a scan (OCR)."""
    from stats.catalog import open_catalog
    from stats.report import write_report

    src = tmp_path / "in"
    src.mkdir()
    words = "A short paragraph of plain words that the text layer holds and that the samples cut into regions."
    for name, picture in (("layer.pdf", False), ("mixed.pdf", True)):
        doc = pymupdf.open()
        page = doc.new_page(width=360, height=300)
        page.insert_text((20, 30), "Where The Text Comes From", fontsize=14)
        page.insert_textbox(pymupdf.Rect(20, 45, 340, 140), words, fontsize=11)
        if picture:
            page.insert_image(pymupdf.Rect(20, 160, 340, 280), stream=_words_png(["Words in a picture"], (640, 240)))
        doc.save(src / name, no_new_id=True)
    (src / "scan.png").write_bytes(_words_png(["A scanned page of text", "read by the OCR engine"], (560, 140)))
    out = tmp_path / "corpus"
    assert build_docs([str(src)], out, _cfg()).ok

    records = _record_text_paths(out)
    stats = pq.read_table(out / "stats").to_pylist()
    assert {r["key"]: r["text_path"] for r in stats} == records
    by_input = {r["input_id"].split("/")[-1]: r["text_path"] for r in stats}
    con = open_catalog(out)
    counts = dict(con.execute("SELECT text_path, count(*) FROM samples GROUP BY ALL").fetchall())
    assert set(counts) == {"text_layer", "mixed", "ocr"}, by_input
    assert counts == {p: list(records.values()).count(p) for p in counts}
    page = write_report([out], tmp_path / "report.html").read_text()
    section = page.split("<h2>Text paths of document samples</h2>", 1)[1].split("<h2>", 1)[0]
    assert '<img src="data:image/png;base64,' in section
