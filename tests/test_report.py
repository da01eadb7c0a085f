"""`stats report`: the HTML renders, its summary matches the tables, and no section is an empty plot."""
from __future__ import annotations

import base64
import io
import re

import pyarrow.parquet as pq
from catalog_corpora import corpora  # noqa: F401 - the session's test corpora (module fixture)
from PIL import Image

from cli.main import main
from stats.report import human_bytes, write_report

IMG = re.compile(r'<img src="data:image/png;base64,([^"]+)"')


def figures(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(m))) for m in IMG.findall(page)]


def test_report_of_two_corpora(corpora, tmp_path):  # noqa: F811
    out = write_report([corpora["images"], corpora["videos"]], tmp_path / "r.html")
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for title in ("Samples by task and noise level", "Text lengths", "Image and frame sizes", "Video frames and durations",
                  "Duplicates dropped", "Error reasons", "Shard sizes"):
        assert f"<h2>{title}</h2>" in page
    figs = figures(page)
    assert len(figs) == 7 and all(f.width > 600 and f.height > 150 for f in figs)
    samples = sum(pq.read_table(p).num_rows for d in corpora.values() for p in (d / "stats").glob("*.parquet"))
    assert '<tr class="total"><td>all corpora</td><td></td><td class="num">29</td>' in page  # inputs of both builds
    assert f'<td class="num">{samples:,}</td>' in page
    assert 'class="empty"' not in page


def test_report_says_what_is_missing(corpora, tmp_path, capsys):  # noqa: F811
    assert main(["stats", "report", str(corpora["images"]), "--out", str(tmp_path / "img.html")]) == 0
    page = (tmp_path / "img.html").read_text()
    assert "No videos in this corpus." in page
    assert len(figures(page)) == 6  # every other section has its plot
    assert "corrupt input images-0003" in page  # example message of a quarantined input (the smallest)


def test_human_bytes():
    assert human_bytes(999) == "999 B"
    assert human_bytes(81_920) == "81.9 kB"
    assert human_bytes(2.1e9) == "2.1 GB"


def test_report_plots_cer_per_level_when_a_calibration_table_exists(corpora, tmp_path):  # noqa: F811
    import shutil

    from pipelines.calibration.measure import write_table

    d = tmp_path / "measured"
    shutil.copytree(corpora["images"], d, ignore=shutil.ignore_patterns("*.duckdb"))  # its catalog names the original
    rows = [{"key": f"k{i}", "input_id": "doc", "page": 0, "granularity": "line", "level": lv, "family": "blur",
             "strength": 0.5, "glyph_px": 20.0, "chars": 30, "cer": c, "clean_cer": 0.0, "read": "", "text": "t"}
            for i, (lv, c) in enumerate([("light", 0.0), ("light", 0.1), ("medium", 0.5), ("masked", 1.0)])]
    write_table(rows, d / "calibration.parquet")
    page = write_report([d], tmp_path / "r.html").read_text()
    assert "<h2>Legibility by noise level</h2>" in page
    assert len(figures(page)) == 7  # the images report's six plots and this one
    assert "Legibility" not in write_report([corpora["images"]], tmp_path / "plain.html").read_text()


def test_report_tables_what_each_operator_did(corpora, tmp_path):  # noqa: F811
    d = corpora["images"]
    page = write_report([d], tmp_path / "ops.html").read_text()
    assert "<h2>Operators</h2>" in page
    samples = sum(pq.read_metadata(p).num_rows for p in (d / "stats").glob("*.parquet"))
    errors = sum(pq.read_metadata(p).num_rows for p in (d / "errors").glob("*.parquet"))
    row = re.search(r'<td>FakeSamples</td><td class="num">([\d,]+)</td><td class="num">([\d,]+)</td>'
                    r'<td class="num">([\d,]+)</td><td class="msg">([^<]*)</td>', page)
    assert row and row.groups()[:3] == ("20", f"{samples:,}", f"{errors:,}")  # 20 inputs in the images corpus
    assert row.group(4) == "filtered:min_text (4), quarantine:ValueError (3), duplicate:near_duplicate (1)"
