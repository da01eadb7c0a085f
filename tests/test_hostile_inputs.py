"""Careless and hostile input reaches the user as one line and an exit code, never a traceback, and loses
nothing: a bad manifest line or caption file is a quarantined input, the rest builds (the files are made
here, by the test)."""
from __future__ import annotations

import glob
import json
import logging
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli.main import main
from corpus.index import CorpusIndex, CorpusIndexError
from tests.test_images_pipeline import encode, smooth_image


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _table(out: Path, sub: str) -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in sorted(glob.glob(str(out / sub / "*.parquet")))]).to_pylist()


@pytest.fixture(scope="module")
def built(tmp_path_factory, ray_session):
    """An images build from a JSONL manifest with two bad lines and a folder with a non-UTF-8 caption."""
    root = tmp_path_factory.mktemp("hostile")
    for i in range(3):
        (root / f"m{i}.jpg").write_bytes(encode(smooth_image(10 + i), quality=95))
    lines = [json.dumps({"path": "m0.jpg", "caption": "first"}).encode(),
             b'{"path": "m1.jpg", "caption": "unterminated',
             json.dumps({"path": "m1.jpg", "caption": "second"}).encode(),
             b'{"path": "m2.jpg", "caption": "caf\xe9 in latin-1"}',
             b"", json.dumps({"path": "m2.jpg", "caption": "third"}).encode()]
    (root / "list.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    folder = root / "photos"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(encode(smooth_image(20), quality=95))
    (folder / "ok.txt").write_text("a fine caption")
    (folder / "bad.jpg").write_bytes(encode(smooth_image(21), quality=95))
    (folder / "bad.txt").write_bytes(b"caption in latin-1: \xe9\xe8")
    out = root / "out"
    code = main(["images", "build", str(root / "list.jsonl"), str(folder), "--out", str(out), "--num-cpus", "1",
                 "--no-progress"])
    return root, out, code


def test_bad_manifest_lines_and_captions_are_quarantined_and_the_rest_builds(built):
    root, out, code = built
    assert code == 0
    errors = {e["input_id"]: e for e in _table(out, "errors")}
    samples = _table(out, "stats")
    assert errors["list.jsonl#00000001"]["error_type"] == "bad_manifest_line"
    assert f"{root / 'list.jsonl'}:2: not valid JSON" in errors["list.jsonl#00000001"]["message"]
    assert errors["list.jsonl#00000003"]["error_type"] == "bad_manifest_line"
    assert f"{root / 'list.jsonl'}:4: not UTF-8 text" in errors["list.jsonl#00000003"]["message"]
    assert errors["photos/bad.jpg"]["error_type"] == "bad_sidecar"
    assert "not UTF-8 text" in errors["photos/bad.jpg"]["message"]
    assert all(e["category"] == "quarantine" for e in errors.values() if e["stage"] == "inputs")
    # every input accounted for: 5 manifest lines (the blank one is not a line) + 2 images
    assert len(samples) + len(errors) == 7
    assert {s["input_id"] for s in samples} >= {"list.jsonl#00000000", "list.jsonl#00000002", "photos/ok.jpg"}


def test_invalid_sql_is_one_line_with_advice(built, caplog, capsys):
    _, out, _ = built
    caplog.set_level(logging.ERROR)
    assert main(["stats", "query", str(out), "SELEC count(*) FROM samples"]) == 2
    assert main(["stats", "query", str(out), "SELECT no_such_column FROM samples"]) == 2
    parse, bind = _errors(caplog)
    assert parse.startswith("the query 'SELEC count(*) FROM samples' does not run: Parser Error")
    assert "no_such_column" in bind and "`mmcorpus stats query --help` lists their columns" in bind
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture
def damaged(built, tmp_path):
    """A copy of the built corpus whose first stats file is cut short."""
    import shutil

    _, out, _ = built
    copy = tmp_path / "damaged"
    shutil.copytree(out, copy)
    first = sorted((copy / "stats").glob("*.parquet"))[0]
    first.write_bytes(first.read_bytes()[:100])
    return copy, first


def test_a_damaged_stats_file_is_named_by_every_reader(damaged, tmp_path, caplog, capsys):
    corpus, bad = damaged
    with pytest.raises(CorpusIndexError, match=f"{bad} is damaged .*delete it and rerun the build command"):
        CorpusIndex.load(str(corpus))
    caplog.set_level(logging.ERROR)
    assert main(["export", str(corpus), "--out", str(tmp_path / "x"), "--format", "llava"]) == 2
    assert main(["stats", "query", str(corpus), "SELECT count(*) FROM samples"]) == 2
    assert main(["stats", "report", str(corpus), "--out", str(tmp_path / "r.html")]) == 2
    assert main(["stats", "catalog", str(corpus), "--db", str(tmp_path / "c.duckdb")]) == 2
    messages = _errors(caplog)
    assert len(messages) == 4 and all(bad.name in m and "rerun the build" in m for m in messages)
    assert "Traceback" not in capsys.readouterr().err


def test_an_unexpected_failure_is_one_line_and_debug_adds_the_traceback(monkeypatch, caplog, capsys):
    import cli.commands.stats as stats_command

    def broken(args):
        raise RuntimeError("something internal\nover two lines")

    monkeypatch.setattr(stats_command, "run_query", broken)
    caplog.set_level(logging.ERROR)
    assert main(["stats", "query", "x", "SELECT 1"]) == 1
    (message,) = _errors(caplog)
    assert message == ("internal error in `mmcorpus stats` (RuntimeError: something internal over two lines): "
                       "rerun with --debug for the traceback and report it")
    caplog.clear()
    assert main(["--debug", "stats", "query", "x", "SELECT 1"]) == 1
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


@pytest.mark.parametrize("content,looks_like", [
    (encode(smooth_image(3), "PNG"), "looks like a PNG image"),
    (b"<!DOCTYPE html><html><body>404</body></html>", "looks like HTML or XML"),
    (b"", "looks like an empty file"),
])
def test_a_file_named_pdf_that_is_not_one_is_named_so(tmp_path, content, looks_like):
    from operators.docs.pdf_pages import PdfPages
    from operators.docs.split import SplitDocuments
    from tests.doc_pages import input_row

    path = tmp_path / "paper.pdf"
    path.write_bytes(content)
    units = SplitDocuments()([input_row(path)]).to_pylist()
    (row,) = PdfPages()(units).to_pylist()
    assert row["error_type"] == "NotAPdf" and row["error_category"] == "quarantine"
    assert row["error_message"].startswith("not a PDF: no %PDF- header") and looks_like in row["error_message"]


def _hostile_tar(member_blocks: list[tuple[str, bytes, int | None]]) -> bytes:
    """A tar whose members have the given names, data and (when not None) a lying size field."""
    import tarfile

    out = b""
    for name, data, claimed in member_blocks:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
        if claimed is not None:
            info.size = claimed
            header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
        out += bytes(header) + data + b"\0" * (-len(data) % 512)
    return out + b"\0" * 1024


@pytest.mark.parametrize("damage,expected", [
    ("missing", "is missing, though stats/"),
    ("truncated", "cannot be read as its stats row says"),
    ("traversal", "the range holds ['../"),
    ("absolute", "the range holds ['/tmp/"),
    ("oversized", "cannot be read as its stats row says"),
])
def test_show_on_a_damaged_or_hostile_shard_is_one_line(built, tmp_path, damage, expected, caplog, capsys):
    import shutil

    _, out, _ = built
    corpus = tmp_path / "c"
    shutil.copytree(out, corpus)
    row = next(r for r in _table(corpus, "stats") if r["members"])
    tar = corpus / "shards" / row["shard"]
    if damage == "missing":
        tar.unlink()
    elif damage == "truncated":
        tar.write_bytes(tar.read_bytes()[: row["offset"] + 700])
    else:
        from stats.show import parse_members, read_range

        members = parse_members(read_range(str(tar), row["offset"], row["size"]))
        renamed = {"traversal": lambda n: "../" + n, "absolute": lambda n: "/tmp/" + n, "oversized": lambda n: n}[damage]
        claimed = 1 << 40 if damage == "oversized" else None
        blob = _hostile_tar([(renamed(n), d, claimed if i == 0 else None) for i, (n, d) in enumerate(members)])
        data = bytearray(tar.read_bytes())
        data[row["offset"]:row["offset"] + row["size"]] = blob[:row["size"]]
        tar.write_bytes(bytes(data))
    caplog.set_level(logging.ERROR)
    assert main(["show", str(corpus), row["key"], "--out", str(tmp_path / "o")]) == 2
    (message,) = _errors(caplog)
    assert expected in message and "rerun the build command" in message
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not list(Path("/tmp").glob(row["key"] + ".*"))


def test_an_images_build_refused_by_the_lock_writes_nothing(built, tmp_path, caplog):
    """Two builds racing for one new corpus: the one that finds the lock taken has written no dedup table
    (the dedup pass runs under the lock, so the loser cannot overwrite the winner's decision)."""
    import socket

    from pipelines.engine.lock import LOCK

    root, _, _ = built
    out = tmp_path / "new"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"run_id": "winner", "host": socket.gethostname(), "pid": os.getpid(),
                                        "started": 0}))
    caplog.set_level(logging.ERROR)
    assert main(["images", "build", str(root / "photos"), "--out", str(out), "--num-cpus", "1", "--no-progress"]) == 2
    (message,) = _errors(caplog)
    assert "says build winner" in message and "is writing this corpus" in message
    assert sorted(p.name for p in out.iterdir()) == [LOCK]
