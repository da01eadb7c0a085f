"""Builds across two Ray nodes on one machine, written straight to object storage (moto's S3 server),
and the faults clusters have: a worker node dies, the driver dies. Each build runs as a user would run
it: the `mmcorpus` command against `--address`, with `--out s3://...` and AWS_ENDPOINT_URL set."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpus.manifest import Manifest
from corpus.storage import Store
from corpus.tar_format import archive_tail
from pipelines.demo.documents import generate_demo_corpus
from pipelines.engine.local_cluster import LocalCluster

MMCORPUS = [sys.executable, "-m", "cli.main"]


@pytest.fixture(scope="module")
def cluster(s3_server, tmp_path_factory):
    """A Ray head (1 CPU) and a second node (1 CPU) on this machine."""
    with LocalCluster([1, 1], tmp_path_factory.mktemp("cluster")) as c:
        yield c


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Enough documents (24 PDFs, one shard each) that a build is still running when a fault strikes."""
    src = tmp_path_factory.mktemp("src")
    pdfs = [p for p in generate_demo_corpus(src) if p.suffix == ".pdf" and "scan" not in p.name]
    d = tmp_path_factory.mktemp("inputs")
    for c in range(3):
        for p in pdfs:
            shutil.copy(p, d / f"{p.stem}-{c}.pdf")
    return d


def _build(inputs: Path, out: str | Path, cluster: LocalCluster | None, per_shard: int = 1) -> subprocess.Popen:
    cmd = [*MMCORPUS, "docs", "build", str(inputs), "--out", str(out), "--inputs-per-shard", str(per_shard),
           "--no-progress", "--set", "pages.dpi=100",
           "--set", "dedup.exact=false", "--set", "dedup.near=false"]  # the inputs are copies on purpose: all do work
    cmd += ["--address", cluster.address] if cluster else ["--num-cpus", "2", "--address", "local"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=cluster.env if cluster else None)


def _finish(p: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out[-3000:]
    return out


def _stats(out: str | Path) -> list[str]:
    return [n for n in Store(str(out)).names("stats") if n.startswith("docs-")]


def _wait_for_shards(out: str | Path, n: int, p: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while len(_stats(out)) < n:
        assert p.poll() is None, "the build ended before the fault could strike"
        assert time.time() < deadline, "no shard completed in time"
        time.sleep(0.2)


def _tables(out: str | Path, sub: str = "stats") -> pa.Table:
    store = Store(str(out))
    return pa.concat_tables([pq.read_table(pa.BufferReader(store.read(f"{sub}/{n}"))) for n in store.names(sub)])


def _keys(out: str | Path) -> list[str]:
    return sorted(_tables(out).column("key").to_pylist())


def _check_complete(out: str | Path) -> None:
    """Every shard that looks complete (has stats) is: its tar holds exactly the indexed bytes plus the
    archive tail, and the manifest records it; no lock is left, and on S3 no upload is left pending."""
    store, m = Store(str(out)), Manifest.load(str(out))
    for n in store.names("stats"):
        rows = pq.read_table(pa.BufferReader(store.read(f"stats/{n}"))).to_pylist()
        if rows:
            end = max(r["offset"] + r["size"] for r in rows)
            assert store.size(f"shards/{rows[0]['shard']}") == end + len(archive_tail(end))
        assert m.shards[n[: -len(".parquet")]]["samples"] == len(rows)
    assert not store.exists(".lock")
    if not store.local:
        assert store.fs.list_multipart_uploads(store.url.split("://")[1].split("/")[0]) == []


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> list[str]:
    """The keys of an uninterrupted local build."""
    out = tmp_path_factory.mktemp("reference")
    _finish(_build(inputs, out, None))
    return _keys(out)


def test_build_uses_both_nodes(cluster, inputs, reference, s3_bucket):
    out = f"{s3_bucket}/docs"
    log = _finish(_build(inputs, out, cluster))
    assert _keys(out) == reference
    assert "'CPU': 2.0" in log  # the driver saw the resources of both nodes
    _check_complete(out)


def test_video_build_across_both_nodes(cluster, tmp_path, s3_bucket):
    from corpus.index import CorpusIndex
    from pipelines.demo.videos import write_demo_videos

    videos = write_demo_videos(tmp_path / "videos")
    cmd = [*MMCORPUS, "videos", "build", str(tmp_path / "videos"), "--out", f"{s3_bucket}/v", "--no-progress",
           "--address", cluster.address, "--inputs-per-shard", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=cluster.env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    _check_complete(f"{s3_bucket}/v")
    assert CorpusIndex.load(f"{s3_bucket}/v").n_samples == len(videos)
    stats = _tables(f"{s3_bucket}/v").to_pylist()
    assert {r["input_id"] for r in stats} and len(stats) == len(videos)
    assert all(r["n_frames"] > 0 for r in stats)


def test_a_build_without_an_address_joins_the_ray_that_ray_start_runs_here(cluster, tmp_path):
    """No --address: the command joins the Ray instance `ray start` left running on this machine (no Ray of
    its own to start) and builds there (the fault tests' local builds show --address local starts a fresh one)."""
    one = tmp_path / "in"
    one.mkdir()
    shutil.copy(next(p for p in generate_demo_corpus(tmp_path / "src") if p.suffix == ".pdf"), one)
    cmd = [*MMCORPUS, "docs", "build", str(one), "--no-progress", "--set", "pages.dpi=100",
           "--out", str(tmp_path / "o")]
    joined = subprocess.run(cmd, capture_output=True, text=True, env=cluster.env)
    assert joined.returncode == 0, joined.stderr[-3000:]
    said = [line for line in joined.stderr.splitlines() if "joined the Ray instance running here at" in line]
    assert said and f":{cluster.port} " in said[0]  # `ray start` records the node's IP, not 127.0.0.1
    assert _keys(tmp_path / "o")


def test_one_shard_fans_out_across_both_nodes(cluster, inputs, reference, s3_bucket):
    """One shard of 24 documents on two 1-CPU nodes: its inputs fan out to two piece tasks and the shard's
    task writes what they return: the samples of the one-shard-per-document reference, once each."""
    out = f"{s3_bucket}/one-shard"
    log = _finish(_build(inputs, out, cluster, per_shard=24))
    assert "1 shards for 2 CPU slots: each shard's inputs fan out to 2 piece tasks" in log
    assert _keys(out) == reference
    assert Store(out).names("shards") == ["docs-000000.tar"]
    _check_complete(out)


def test_worker_node_dies_mid_build(cluster, inputs, reference, s3_bucket):
    out = f"{s3_bucket}/docs"
    p = _build(inputs, out, cluster)
    _wait_for_shards(out, 2, p)
    cluster.kill_node(1)  # the second node and every task on it are gone
    _finish(p)
    keys = _keys(out)
    assert len(keys) == len(set(keys))  # nothing duplicated
    assert keys == reference  # nothing lost
    _check_complete(out)


def test_worker_node_dies_while_a_shard_is_fanned_out(s3_server, inputs, reference, s3_bucket, tmp_path):
    """A node dies while the pieces of a one-shard build run on it (a cluster of its own: the shared one has
    lost its second node by now): the shard is still written once, whole, with every reference sample."""
    out = f"{s3_bucket}/fanned-kill"
    with LocalCluster([1, 1], tmp_path / "cluster") as c:
        p = _build(inputs, out, c, per_shard=24)
        for line in p.stdout:  # the driver has cut the shard: its pieces are about to run on both nodes
            if "piece tasks" in line:
                break
        time.sleep(1.0)
        assert p.poll() is None, "the build ended before the fault could strike"
        c.kill_node(1)
        _finish(p)
    keys = _keys(out)
    assert len(keys) == len(set(keys)) and keys == reference
    _check_complete(out)


def test_driver_dies_mid_build_and_rerun_resumes(s3_server, inputs, reference, s3_bucket):
    out = f"{s3_bucket}/docs"
    p = _build(inputs, out, None)
    _wait_for_shards(out, 3, p)
    os.killpg(p.pid, signal.SIGKILL)  # the driver and its local Ray: the lock stays behind
    p.wait()
    assert Store(out).exists(".lock")
    log = _finish(_build(inputs, out, None))  # same host, dead pid: the stale lock is taken over
    assert "taking over the lock" in log and "in completed shards" in log
    keys = _keys(out)
    assert len(keys) == len(set(keys)) and keys == reference
    tars = sorted(n for n in Store(out).names("shards") if n.endswith(".tar"))
    assert tars == [f"docs-{i:06d}.tar" for i in range(len(tars))]
    _check_complete(out)
