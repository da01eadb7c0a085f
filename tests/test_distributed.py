"""Builds across two Ray nodes on one machine, and the faults clusters have: a worker node dies, the
driver dies. Each build runs as a user would run it: the `mmcorpus` command against `--address`."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.demo_corpus import generate_demo_corpus
from pipelines.local_cluster import LocalCluster

MMCORPUS = [sys.executable, "-m", "pipelines.cli"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
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


def _build(inputs: Path, out: Path, cluster: LocalCluster | None) -> subprocess.Popen:
    cmd = [*MMCORPUS, "docs", "build", str(inputs), "--out", str(out), "--inputs-per-shard", "1", "--no-progress",
           "--set", "pages.dpi=100"]
    cmd += ["--address", cluster.address] if cluster else ["--num-cpus", "2"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=cluster.env if cluster else None)


def _finish(p: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out[-3000:]
    return out


def _wait_for_shards(out: Path, n: int, p: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while len(list((out / "stats").glob("docs-*.parquet"))) < n:
        assert p.poll() is None, "the build ended before the fault could strike"
        assert time.time() < deadline, "no shard completed in time"
        time.sleep(0.2)


def _keys(out: Path) -> list[str]:
    return sorted(pq.read_table(out / "stats", columns=["key"]).column("key").to_pylist())


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> list[str]:
    """The keys of an uninterrupted local build."""
    out = tmp_path_factory.mktemp("reference")
    _finish(_build(inputs, out, None))
    return _keys(out)


def test_build_uses_both_nodes(cluster, inputs, reference, tmp_path):
    log = _finish(_build(inputs, tmp_path / "c", cluster))
    assert _keys(tmp_path / "c") == reference
    assert "'CPU': 2.0" in log  # the driver saw the resources of both nodes


def test_video_build_across_both_nodes(cluster, tmp_path):
    from pipelines.demo_videos import write_demo_videos

    videos = write_demo_videos(tmp_path / "videos")
    cmd = [*MMCORPUS, "videos", "build", str(tmp_path / "videos"), "--out", str(tmp_path / "v"), "--no-progress",
           "--address", cluster.address]
    out = subprocess.run(cmd, capture_output=True, text=True, env=cluster.env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    stats = pq.read_table(tmp_path / "v" / "stats").to_pylist()
    assert {r["input_id"] for r in stats} and len(stats) == len(videos)
    assert all(r["n_frames"] > 0 for r in stats)


def test_worker_node_dies_mid_build(cluster, inputs, reference, tmp_path):
    out = tmp_path / "c"
    p = _build(inputs, out, cluster)
    _wait_for_shards(out, 2, p)
    cluster.kill_node(1)  # the second node and every task on it are gone
    _finish(p)
    keys = _keys(out)
    assert len(keys) == len(set(keys))  # nothing duplicated
    assert keys == reference  # nothing lost


def test_driver_dies_mid_build_and_rerun_resumes(inputs, reference, tmp_path):
    out = tmp_path / "c"
    p = _build(inputs, out, None)
    _wait_for_shards(out, 3, p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    done_before = len(list((out / "stats").glob("docs-*.parquet")))
    log = _finish(_build(inputs, out, None))
    assert f"{done_before} in completed shards" in log or "in completed shards" in log
    assert not list((out / "shards").glob(".tmp-*"))
    keys = _keys(out)
    assert len(keys) == len(set(keys)) and keys == reference
    tars = sorted(p.name for p in (out / "shards").glob("*.tar"))
    assert tars == [f"docs-{i:06d}.tar" for i in range(len(tars))]
