"""Corpora built straight into object storage (moto's real S3 server on 127.0.0.1) and read back by
every consumer: webdataset, Ray Data, DuckDB (`stats`), `show`, the training bridge. Plus what a store
without rename needs: aborted uploads leave nothing, resume from the stats objects, one build at a time,
clear errors for a missing bucket or a prefix holding another corpus."""
from __future__ import annotations

import hashlib
import io
import json
import time

import pyarrow.parquet as pq
import pytest

from corpus.errors import UserError
from corpus.manifest import Manifest
from corpus.storage import Store
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig

s3fs = pytest.importorskip("s3fs")


def _cfg(**run) -> DocsConfig:
    cfg = DocsConfig(run=RunConfig(**{"num_cpus": 2, "inputs_per_shard": 2, "progress": False, **run}))
    cfg.pages.dpi = 72
    return cfg


def _fs():
    return s3fs.S3FileSystem(skip_instance_cache=True)


def _digests(fs, root: str) -> dict[str, str]:
    return {p.rsplit("/", 1)[-1]: hashlib.sha256(fs.cat_file(p)).hexdigest()
            for p in sorted(fs.find(root.split("://", 1)[-1] + "/shards")) if p.endswith(".tar")}


@pytest.fixture(scope="module")
def inputs_url(s3_server, tmp_path_factory) -> str:
    """Three demo PDFs uploaded to s3://inputs/docs/: the workers read them there (no scan: OCR is
    tested on local files elsewhere and would only slow this module down)."""
    files = generate_demo_corpus(tmp_path_factory.mktemp("demo"))
    pick = [p for p in files if p.suffix == ".pdf" and "scan" not in p.name][:3]
    fs = _fs()
    if not fs.exists("inputs"):
        fs.mkdir("inputs")
    for p in pick:
        fs.put_file(str(p), f"inputs/docs/{p.name}")
    return "s3://inputs/docs"


@pytest.fixture(scope="module")
def corpus(ray_session, inputs_url) -> str:
    fs = _fs()
    if not fs.exists("corpora"):
        fs.mkdir("corpora")
    summary = build_docs([inputs_url], "s3://corpora/docs", _cfg())
    assert summary.ok and summary.samples > 0 and summary.shards_written == 2
    return "s3://corpora/docs"


def test_layout_lock_released_and_nothing_local(corpus):
    fs = _fs()
    names = {p.split("/", 2)[2] for p in fs.find("corpora/docs")}
    assert {"manifest.json", "shards/docs-000000.tar", "stats/docs-000001.parquet", "errors/docs-000000.parquet"} <= names
    assert ".lock" not in names and not any(".tmp-" in n for n in names)
    m = Manifest.load(corpus)
    assert m.totals()["shards"] == 2 and m.runs[-1]["run"]["storage_options"] == {}
    assert fs.list_multipart_uploads("corpora") == []  # every upload completed or aborted


def test_local_and_object_store_builds_are_byte_identical(ray_session, corpus, inputs_url, tmp_path):
    assert build_docs([inputs_url], tmp_path / "local", _cfg()).ok
    local = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "local" / "shards").glob("*.tar")}
    assert _digests(_fs(), corpus) == local


def test_read_back_with_webdataset_and_ray_data(corpus):
    import ray.data
    import webdataset as wds

    from corpus.store_readers import ray_data_source, register_webdataset_fsspec

    fs = _fs()
    stats = pq.read_table(io.BytesIO(fs.cat_file("corpora/docs/stats/docs-000000.parquet"))).to_pylist()
    register_webdataset_fsspec()
    samples = list(wds.WebDataset(f"{corpus}/shards/docs-000000.tar", shardshuffle=False).decode("pil"))
    assert [s["__key__"] for s in samples] == [r["key"] for r in stats]
    assert all(s["json"]["key"] == s["__key__"] and s["jpg"].size == (r["width"], r["height"])
               for s, r in zip(samples, stats))
    paths, kwargs = ray_data_source(f"{corpus}/shards")
    rows = ray.data.read_webdataset(paths, decoder=None, **kwargs).take_all()
    n = sum(pq.read_metadata(io.BytesIO(fs.cat_file(p))).num_rows for p in fs.find("corpora/docs/stats"))
    assert len(rows) == n and all(r["jpg"][:2] == b"\xff\xd8" for r in rows)


def test_duckdb_show_and_bridge_read_the_store(corpus):
    from corpus.index import CorpusIndex
    from corpus.range_reader import RangeReader
    from corpus.tar_members import parse_members
    from stats.catalog import open_catalog
    from stats.show import fetch_sample

    con = open_catalog(corpus)
    n, keys = con.execute("SELECT count(*), list(key ORDER BY key) FROM samples").fetchall()[0]
    shards = con.execute("SELECT count(*), sum(samples) FROM shards WHERE in_manifest AND has_tar").fetchall()[0]
    con.close()
    assert n > 0 and shards == (2, n)
    sample = fetch_sample(corpus, keys[0])  # a ranged GET of the sample's bytes
    assert sample.location.key == keys[0] and f"{keys[0]}.jpg" in sample.members
    index = CorpusIndex.load(corpus)
    assert index.n_samples == n and sorted(index.keys.to_pylist()) == keys
    reader = RangeReader()
    blob = reader.read(index.shard_urls[0], int(index.offsets[0]), int(index.sizes[0]))
    reader.close()
    members = parse_members(blob, index.keys[0].as_py(), 1 << 26)
    assert members and "json" in {name.rsplit(".", 1)[-1] for name in members}


def test_resume_redoes_only_the_shard_without_stats(ray_session, corpus, inputs_url, s3_bucket):
    fs = _fs()
    out = f"{s3_bucket}/docs"
    fs.copy("corpora/docs", out.split("://")[1], recursive=True)
    before = _digests(fs, out)
    fs.rm_file(f"{out.split('://')[1]}/stats/docs-000001.parquet")  # died after the tar, before the stats
    fs.pipe_file(f"{out.split('://')[1]}/shards/docs-000001.tar", b"a torn leftover")
    summary = build_docs([inputs_url], out, _cfg())
    assert summary.ok and summary.shards_written == 1 and summary.inputs_skipped == 2
    assert _digests(fs, out) == before


def test_aborted_upload_leaves_no_object(s3_bucket):
    from corpus.sink import ShardWriter, completed_shards

    store = Store(s3_bucket + "/c")
    w = ShardWriter(store, "t", 0, "test")
    big = bytes(range(256)) * (4096 * 7)  # 7 MiB: the upload is multipart by then
    for i in range(2):
        w.add({"input_id": f"i{i}", "source": "s", "key": f"k{i}", "members": [{"ext": "bin", "data": big}]})
    w.abort(RuntimeError("the task died"))
    fs = _fs()
    assert fs.find(s3_bucket.split("://")[1]) == [] and completed_shards(store, "t") == set()
    assert fs.list_multipart_uploads(s3_bucket.split("://")[1]) == []


def test_a_second_build_on_the_prefix_is_refused(ray_session, inputs_url, s3_bucket):
    out = f"{s3_bucket}/docs"
    lock = {"run_id": "other-run", "host": "another-machine", "pid": 1, "started": 0}
    _fs().pipe_file(f"{out.split('://')[1]}/.lock", json.dumps(lock).encode())
    one = sorted(_fs().find(inputs_url.split("://")[1]))[0]
    with pytest.raises(UserError, match=r"other-run.*break_lock"):
        build_docs([f"s3://{one}"], out, _cfg())
    assert not _fs().exists(f"{out.split('://')[1]}/manifest.json")
    assert build_docs([f"s3://{one}"], out, _cfg(break_lock=True)).ok
    assert not _fs().exists(f"{out.split('://')[1]}/.lock")


def test_missing_bucket_and_other_corpus_are_clear_errors(ray_session, corpus, inputs_url):
    with pytest.raises(UserError, match=r"s3://no-such-bucket/docs.*bucket does not exist"):
        build_docs([inputs_url], "s3://no-such-bucket/docs", _cfg())
    from pipelines.videos import VideosConfig, build_videos

    with pytest.raises(UserError, match=r"s3://corpora/docs holds a 'docs' corpus"):
        build_videos([inputs_url + "/*.pdf"], corpus, VideosConfig(run=RunConfig(num_cpus=2, progress=False)))


def test_store_that_stops_accepting_writes_mid_build(ray_session, inputs_url, s3_bucket):
    """A second S3 endpoint (same moto backend), given as storage options, goes away once the first
    shard is complete: the build fails with an error naming the URL, every shard that looks complete
    is, and once the store is back the same build finishes the corpus."""
    import socket
    import threading

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:  # (importing conftest again would move the session's endpoint)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    out, store = f"{s3_bucket}/docs", Store(f"{s3_bucket}/docs")  # `store` reads through the session server
    cfg = _cfg(storage_options={"endpoint_url": f"http://127.0.0.1:{port}"}, inputs_per_shard=1)

    def stop_after_first_shard() -> None:
        while not store.names("stats"):
            time.sleep(0.02)
        server.stop()

    watcher = threading.Thread(target=stop_after_first_shard, daemon=True)
    watcher.start()
    with pytest.raises(UserError, match=rf"{out}.*rerun"):
        build_docs([inputs_url], out, cfg)
    watcher.join(timeout=30)
    done = store.names("stats")
    assert 1 <= len(done) < 3
    for n in done:  # complete means complete: the tar is there, whole
        rows = pq.read_table(io.BytesIO(store.read(f"stats/{n}"))).to_pylist()
        assert store.size(f"shards/{rows[0]['shard']}") > max(r["offset"] + r["size"] for r in rows)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:  # the failed build could not remove its lock: the error said how to take it over
        summary = build_docs([inputs_url], out, _cfg(storage_options=cfg.run.storage_options, inputs_per_shard=1, break_lock=True))
    finally:
        server.stop()
    assert summary.ok and summary.inputs_skipped == len(done) and len(store.names("stats")) == 3


def test_stats_commands_on_the_store(corpus, tmp_path, capsys):
    from cli.main import main

    db, report = str(tmp_path / "c.duckdb"), tmp_path / "report.html"
    assert main(["stats", "catalog", corpus, "--db", db]) == 0
    assert main(["stats", "query", db, "SELECT count(*) AS n FROM shards WHERE has_tar"]) == 0
    assert capsys.readouterr().out.split()[-3:] == ["2", "(1", "row)"]
    assert main(["stats", "report", corpus, "--out", str(report)]) == 0
    assert report.stat().st_size > 1000
    assert main(["show", corpus, "nonexistent-key"]) == 2  # a clear UserError, not a traceback


def test_fixture_pdfs_and_videos_from_the_store_into_the_store(ray_session, shared_fixtures, s3_bucket, tmp_path):
    """The real fixtures (broken ones included) read from S3 by the workers and built into S3: every input
    ends as samples or error rows, and the bridge indexes the video corpus."""
    from corpus.index import CorpusIndex
    from pipelines.videos import VideosConfig, build_videos

    fs, b = _fs(), s3_bucket.split("://")[1]
    pdfs = sorted((shared_fixtures / "pdfs").glob("*.pdf"))
    for p in pdfs + sorted((shared_fixtures / "videos").iterdir()):
        fs.put_file(str(p), f"{b}/in/{p.parent.name}/{p.name}")
    manifest = tmp_path / "videos.jsonl"
    names = ["flipping_a_pancake.mkv", "corrupted.mp4", "video_90.mov"]
    manifest.write_text("".join(json.dumps({"video": f"{s3_bucket}/in/videos/{n}", "caption": "A clip."}) + "\n"
                                for n in names))
    docs = build_docs([f"{s3_bucket}/in/pdfs"], f"{s3_bucket}/docs", _cfg(inputs_per_shard=3))
    vids = build_videos([str(manifest)], f"{s3_bucket}/videos",
                        VideosConfig(run=RunConfig(num_cpus=2, inputs_per_shard=2, progress=False)))
    for out, summary, n in ((f"{s3_bucket}/docs", docs, len(pdfs)), (f"{s3_bucket}/videos", vids, len(names))):
        store = Store(out)
        ids = set()
        for sub in ("stats", "errors"):
            for name in store.names(sub):
                ids |= set(pq.read_table(io.BytesIO(store.read(f"{sub}/{name}"))).column("input_id").to_pylist())
        assert summary.ok and summary.inputs == n == len(ids)
    assert docs.samples > 0 and docs.errors > 0  # tracemonkey gives pages; the encrypted PDF is quarantined
    assert CorpusIndex.load(f"{s3_bucket}/videos").n_samples == vids.samples >= 2
