"""`mmcorpus docs calibrate`: measures a built corpus's own samples, and writes a config the build takes.
Kept tiny (a few regions, a two-point grid): the calibration figures come from benchmarks/noise_calibration.py."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from test_docs_pipeline import built, demo_inputs  # noqa: F401 - module fixtures (a small docs corpus)

from cli.main import main
from stats.contact_sheet import contact_sheet


def test_calibrate_a_corpus_measures_its_own_samples_with_two_readers(built: Path, tmp_path: Path,  # noqa: F811
                                                                      capsys: pytest.CaptureFixture) -> None:
    """Every region is read by RapidOCR and tesseract; the exit status says whether every band held."""
    status = main(["docs", "calibrate", str(built), "--no-fit", "--verify-regions", "6", "--pages-per-doc", "1"])
    printed = capsys.readouterr().out
    assert status == (1 if "[MISSED]" in printed else 0) and "bands held (rapidocr, tesseract)" in printed
    table = pq.read_table(built / "calibration.parquet").to_pylist()
    keys = set(pq.read_table(built / "stats", columns=["key"]).column("key").to_pylist())
    regions = {(r["key"], r["text"]) for r in table}
    assert 1 <= len(regions) <= 6 and {r["key"] for r in table} <= keys  # same seed, same code: the corpus's samples
    assert sorted(r["reader"] for r in table) == sorted(["rapidocr", "tesseract"] * len(regions))
    for r in table:
        assert 0.0 <= r["cer"] <= 1.0 and 0.0 <= r["clean_cer"] <= 1.0 and r["glyph_px"] > 0
        if r["level"] == "masked":
            assert r["cer"] == 1.0 and r["read"] == ""
    out = contact_sheet(built, tmp_path / "sheet.png")
    assert out.stat().st_size > 10_000


def test_calibrate_writes_a_config_the_build_accepts(demo_inputs: list[str], tmp_path: Path, capsys) -> None:  # noqa: F811
    pdf = next(p for p in demo_inputs if p.endswith(".pdf"))
    cfg = tmp_path / "noise.yaml"
    status = main(["docs", "calibrate", pdf, "--dpi", "96", "--regions", "1", "--grid", "0,1", "--verify-regions", "3",
                   "--pages-per-doc", "1", "--second-reader", "none", "--write-config", str(cfg)])
    printed = capsys.readouterr().out
    assert status == (1 if "[MISSED]" in printed else 0) and "bands held (rapidocr)" in printed
    written = yaml.safe_load(cfg.read_text())
    assert written["pages"]["dpi"] == 96.0
    assert set(written["samples"]["noise"]["strength"]) == {"light", "medium", "masked"}
    capsys.readouterr()
    assert main(["docs", "build", "--config", str(cfg), "--print-config"]) == 0
    effective = yaml.safe_load(capsys.readouterr().out)
    assert effective["samples"]["noise"]["strength"] == written["samples"]["noise"]["strength"]
    assert effective["pages"]["dpi"] == 96.0


def test_a_build_can_fit_its_noise_on_its_own_pages_and_a_resume_keeps_the_fit(
        ray_session, demo_inputs: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """`calibrate.pages` > 0: the ranges are fitted on the build's pages before it starts, recorded in the
    manifest and drawn from by every sample; a rerun on the same folder takes the recorded ranges without
    refitting, so a resumed shard is the same bytes."""
    import json

    from test_docs_pipeline import _cfg

    from pipelines.docs import build_docs

    cfg = _cfg()
    cfg.calibrate.pages, cfg.calibrate.regions, cfg.calibrate.second_reader = 2, 2, ""
    out = tmp_path / "corpus"
    with caplog.at_level("INFO", logger="pipelines.calibration.before_build"):
        assert build_docs(demo_inputs[:2], out, cfg).ok
    assert "fitted on 2 pages" in caplog.text
    recorded = json.loads((out / "manifest.json").read_text())["runs"][-1]["config"]["samples"]["noise"]["strength"]
    assert recorded != {lv: {f: list(r) for f, r in fams.items()} for lv, fams in cfg.samples.noise.strength.items()}
    for rec in (json.loads(m) for m in _members(out, ".json")):
        for r in rec["regions"]:
            lo, hi = recorded[r["level"]][r["family"]]
            assert lo - 1e-4 <= r["strength"] <= hi + 1e-4
    tar = sorted((out / "shards").glob("*.tar"))[0]
    first = tar.read_bytes()
    for stats in (out / "stats").glob("*.parquet"):
        stats.unlink()  # as if the build died before any shard was complete
    caplog.clear()
    with caplog.at_level("INFO", logger="pipelines.calibration.before_build"):
        assert build_docs(demo_inputs[:2], out, cfg).ok
    assert "reusing the strengths" in caplog.text and "fitted on 2 pages" not in caplog.text
    assert tar.read_bytes() == first


def _members(corpus: Path, ext: str) -> list[bytes]:
    import tarfile

    out = []
    for tar in sorted((corpus / "shards").glob("*.tar")):
        with tarfile.open(tar) as t:
            out += [t.extractfile(m).read() for m in t.getmembers() if m.name.endswith(ext)]
    return out
