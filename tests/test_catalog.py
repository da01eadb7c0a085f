"""The DuckDB catalog over real built corpora (`catalog_corpora.py`): views match the tars, queries span two
corpora, URL corpora are read in place."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from catalog_corpora import corpora, to_memory_fs  # noqa: F401 - the session's test corpora (module fixture)

from corpus.errors import UserError
from corpus.video_member import demux_frames
from schemas.tables import ERROR_SCHEMA, STATS_SCHEMA
from stats.catalog import CATALOG_FILE, build_catalog, open_catalog, sql_str


def tar_samples(tar_path: Path) -> dict[str, list[str]]:
    """Member names per sample key, read with the standard tarfile module."""
    out: dict[str, list[str]] = {}
    with tarfile.open(tar_path) as tf:
        for m in tf.getmembers():
            out.setdefault(m.name.split(".", 1)[0], []).append(m.name)
    return out


def test_views_equal_tar_contents(corpora):  # noqa: F811
    d = corpora["images"]
    db, cs = build_catalog([d])
    assert db == d / CATALOG_FILE and [c.label for c in cs] == ["corpus-images"]
    con = open_catalog(d)
    rows = con.execute("SELECT shard, key, members FROM samples").fetchall()
    from_tars: dict[tuple[str, str], list[str]] = {}
    for tar in sorted((d / "shards").glob("*.tar")):
        for key, names in tar_samples(tar).items():
            from_tars[(tar.name, key)] = names
    assert {(s, k): m for s, k, m in rows} == from_tars
    shards = {r[0]: r[1:] for r in con.execute("SELECT shard, samples, tar_bytes, has_tar FROM shards").fetchall()}
    for tar in (d / "shards").glob("*.tar"):
        assert shards[tar.name] == (len(tar_samples(tar)), tar.stat().st_size, True)
    manifest = json.loads((d / "manifest.json").read_text())
    assert len(shards) == len(manifest["shards"])
    n_err = sum(pq.read_table(p).num_rows for p in (d / "errors").glob("*.parquet"))
    assert con.execute("SELECT count(*) FROM errors").fetchall()[0][0] == n_err > 0
    assert con.execute("SELECT sum(errors) FROM shards").fetchall()[0][0] == n_err
    cats = dict(con.execute("SELECT category, count(*) FROM errors GROUP BY ALL").fetchall())
    assert set(cats) == {"quarantine", "filtered", "duplicate"}
    runs = con.execute("SELECT run_id, samples, errors, inputs FROM runs").fetchall()
    assert runs == [(manifest["runs"][0]["run_id"], len(rows), n_err, 20)]
    # every stats column is in the view, with the corpus label in front
    cols = [r[0] for r in con.execute("DESCRIBE samples").fetchall()]
    assert cols == ["corpus"] + STATS_SCHEMA.names
    assert [r[0] for r in con.execute("DESCRIBE errors").fetchall()] == ["corpus"] + ERROR_SCHEMA.names
    con.close()


def test_query_across_two_corpora(corpora, tmp_path):  # noqa: F811
    db, cs = build_catalog([corpora["images"], corpora["videos"]], tmp_path / "both.duckdb")
    con = open_catalog(db)
    per = dict(con.execute("SELECT corpus, count(*) FROM samples GROUP BY corpus").fetchall())
    n_img = sum(len(tar_samples(t)) for t in (corpora["images"] / "shards").glob("*.tar"))
    n_vid = sum(len(tar_samples(t)) for t in (corpora["videos"] / "shards").glob("*.tar"))
    assert per == {"corpus-images": n_img, "corpus-videos": n_vid}
    assert dict(con.execute("SELECT corpus, pipeline FROM corpora").fetchall()) == {"corpus-images": "images", "corpus-videos": "videos"}
    frames = con.execute("SELECT sum(n_frames) FROM samples WHERE corpus = 'corpus-videos'").fetchall()[0][0]
    names = [m for (m,) in con.execute("SELECT members FROM samples WHERE corpus = 'corpus-videos'").fetchall()]
    assert all([n.rsplit(".", 1)[1] for n in m] == ["mp4", "json"] for m in names)
    muxed = 0
    for tar in (corpora["videos"] / "shards").glob("*.tar"):
        with tarfile.open(tar) as tf:
            muxed += sum(len(demux_frames(tf.extractfile(m).read(), m.name)[0]) for m in tf if m.name.endswith(".mp4"))
    assert frames == muxed
    # a join across views and corpora: error share per corpus
    got = con.execute("""SELECT s.corpus, s.n, e.n FROM (SELECT corpus, count(*) n FROM samples GROUP BY 1) s
                         JOIN (SELECT corpus, count(*) n FROM errors GROUP BY 1) e USING (corpus) ORDER BY 1""").fetchall()
    assert [g[0] for g in got] == ["corpus-images", "corpus-videos"] and all(g[2] > 0 for g in got)
    assert con.execute("SELECT count(DISTINCT corpus) FROM runs").fetchall()[0][0] == 2
    con.close()
    # without a catalog file, the same views are built in memory over the folders
    mem = open_catalog([corpora["images"], corpora["videos"]])
    assert dict(mem.execute("SELECT corpus, count(*) FROM samples GROUP BY corpus").fetchall()) == per


def test_catalog_sees_new_shards_without_refresh(corpora, tmp_path):  # noqa: F811
    """Views read the files at query time: a shard added after the catalog was built shows up."""
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(corpora["images"], d, ignore=shutil.ignore_patterns("*.duckdb"))
    last = sorted((d / "stats").glob("*.parquet"))[-1]
    hidden = last.rename(last.with_name(".hidden-" + last.name))
    build_catalog([d])
    con = open_catalog(d)
    before = con.execute("SELECT count(*) FROM samples").fetchall()[0][0]
    hidden.rename(last)
    after = con.execute("SELECT count(*) FROM samples").fetchall()[0][0]
    assert after == before + pq.read_table(last).num_rows


def rewrite_stats(corpus: Path, shards: slice, text_path: str | None) -> int:
    """Rewrite the stats files `shards` (in name order): without the `text_path` column when `text_path` is
    None (as a build before the column wrote them), else with it set to `text_path`; returns their rows."""
    import pyarrow as pa

    n = 0
    for path in sorted((corpus / "stats").glob("*.parquet"))[shards]:
        table = pq.read_table(path).drop_columns(["text_path"])
        if text_path is not None:
            table = table.append_column("text_path", pa.array([text_path] * table.num_rows, pa.string()))
        pq.write_table(table, path)
        n += table.num_rows
    return n


def test_corpora_built_before_a_stats_column_read_with_it_null(corpora, tmp_path):  # noqa: F811
    """Schema evolution: the samples view has every STATS_SCHEMA column, null in files that predate it,
    within one corpus (old and new shards) and across corpora."""
    import shutil

    old, mixed = tmp_path / "old", tmp_path / "mixed"
    for d in (old, mixed):
        shutil.copytree(corpora["images"], d, ignore=shutil.ignore_patterns("*.duckdb"))
    n_old = rewrite_stats(old, slice(None), None)
    assert "text_path" not in pq.read_schema(next((old / "stats").glob("*.parquet"))).names
    n_before, n_after = rewrite_stats(mixed, slice(0, 2), None), rewrite_stats(mixed, slice(2, None), "ocr")

    con = open_catalog(old)
    assert [r[0] for r in con.execute("DESCRIBE samples").fetchall()] == ["corpus"] + STATS_SCHEMA.names
    assert con.execute("SELECT text_path, count(*) FROM samples GROUP BY ALL").fetchall() == [(None, n_old)]
    con = open_catalog(mixed)
    got = dict(con.execute("SELECT text_path, count(*) FROM samples GROUP BY ALL").fetchall())
    assert got == {None: n_before, "ocr": n_after} and n_before and n_after
    db, _ = build_catalog([old, mixed], tmp_path / "both.duckdb")
    con = open_catalog(db)
    got = con.execute("SELECT corpus, text_path, count(*) FROM samples GROUP BY ALL ORDER BY ALL").fetchall()
    assert got == [("mixed", "ocr", n_after), ("mixed", None, n_before), ("old", None, n_old)]


def test_clear_errors_for_folders_that_are_not_corpora(tmp_path):
    with pytest.raises(UserError, match="is it a corpus folder built by mmcorpus"):
        build_catalog([tmp_path])
    (tmp_path / "manifest.json").write_text(json.dumps({"prefix": "docs", "pipeline": "docs"}))
    with pytest.raises(UserError, match=r"no stats/docs-\*\.parquet under"):
        open_catalog(tmp_path)


def test_urls_are_passed_to_duckdb_unchanged():
    from stats.catalog import Corpus, _table_sql, normalize

    assert normalize("s3://bucket/corpora/docs/") == "s3://bucket/corpora/docs"
    c = Corpus(label="docs", path="s3://bucket/corpora/docs", pipeline="docs", prefix="docs")
    sql = _table_sql(duckdb.connect(), [c], "stats", STATS_SCHEMA)
    assert "read_parquet('s3://bucket/corpora/docs/stats/docs-*.parquet'" in sql
    assert sql_str("it's") == "'it''s'"


def test_tables_doc_lists_every_column():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "TABLES.md").read_text()
    for name in STATS_SCHEMA.names + ERROR_SCHEMA.names:
        assert f"`{name}`" in doc, f"docs/TABLES.md does not document column {name}"


def test_stats_cli_catalog_and_query_formats(corpora, tmp_path, capsys, caplog):  # noqa: F811
    from cli.main import main

    d = str(corpora["images"])
    db = str(tmp_path / "cli.duckdb")
    assert main(["stats", "catalog", d, str(corpora["videos"]), "--db", db]) == 0
    capsys.readouterr()
    sql = "SELECT corpus, count(*) AS n, sum(size) AS bytes FROM samples GROUP BY corpus ORDER BY corpus"
    assert main(["stats", "query", db, sql]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["corpus", "n", "bytes"] and text[2].startswith("corpus-images") and text[-1] == "(2 rows)"
    assert main(["stats", "query", db, sql + ";", "--format", "csv", "--out", str(tmp_path / "q.csv")]) == 0
    assert (tmp_path / "q.csv").read_text().splitlines()[0] == "corpus,n,bytes"
    assert main(["stats", "query", d, str(corpora["videos"]), sql, "--format", "json", "--out", str(tmp_path / "q.json")]) == 0
    got = json.loads((tmp_path / "q.json").read_text())
    assert [r["corpus"] for r in got] == ["corpus-images", "corpus-videos"]
    assert main(["stats", "query", db, 'SELECT key, "offset", size FROM samples', "--format", "parquet", "--out", str(tmp_path / "q.parquet")]) == 0
    assert pq.read_table(tmp_path / "q.parquet").num_rows == sum(r["n"] for r in got)
    assert main(["stats", "query", db, "SELECT * FROM samples", "--max-rows", "3"]) == 0
    assert "first 3 rows shown" in capsys.readouterr().out
    assert main(["stats", "query", db, sql, "--format", "csv"]) == 2  # a user error: advice, exit status 2
    assert "add --out FILE" in caplog.text


def test_url_corpus_through_fsspec(corpora, tmp_path):  # noqa: F811
    """A URL corpus is read in place (here fsspec's memory://, standing in for s3:// or gs://)."""
    url = to_memory_fs(corpora["images"], "bucket-a/corpus-images")
    with pytest.raises(UserError, match="give a local database file with --db"):
        build_catalog([url])
    db, cs = build_catalog([url, corpora["videos"]], tmp_path / "remote.duckdb")
    assert cs[0].path == url and cs[0].label == "corpus-images"
    con = open_catalog(db)
    local = open_catalog(corpora["images"])
    q = "SELECT count(*), sum(size), sum(text_len) FROM samples WHERE corpus = 'corpus-images'"
    assert con.execute(q).fetchall() == local.execute(q).fetchall()
    assert con.execute("SELECT count(*) FROM shards WHERE corpus = 'corpus-images' AND has_tar").fetchall()[0][0] == 4
