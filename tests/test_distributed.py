"""Builds across two Ray nodes on one machine, and the faults clusters have: a worker node dies, the
driver dies. Each build runs as a user would run it: the `mmcorpus` command against `--address`."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.demo_corpus import generate_demo_corpus

MMCORPUS = [sys.executable, "-m", "pipelines.cli"]
RAY = str(Path(sys.executable).with_name("ray"))
# Ray 2.5x+ turns token authentication on for `ray start` clusters; this throwaway loopback cluster
# runs without it (a real cluster shares its token: see README, "Running on a Ray cluster").
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([RAY, "start", "--block", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, env=ENV)


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def _wait_nodes(address: str, n: int, timeout: float = 90) -> None:
    code = (f"import ray; ray.init(address='{address}', logging_level='ERROR'); "
            f"print(sum(1 for x in ray.nodes() if x['Alive']))")
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    raise TimeoutError(f"the Ray cluster at {address} never had {n} live nodes")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head (1 CPU) and a second node (1 CPU) on this machine; yields (address, worker process)."""
    tmp = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                   "--node-ip-address=127.0.0.1"], tmp / "head.log")
    worker = None
    try:
        _wait_nodes(address, 1)
        worker = _start([f"--address={address}", "--num-cpus=1", "--node-ip-address=127.0.0.1"], tmp / "worker.log")
        _wait_nodes(address, 2)
        yield address, worker
    finally:
        if worker is not None:
            _kill(worker)
        _kill(head)


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


def _build(inputs: Path, out: Path, address: str | None) -> subprocess.Popen:
    cmd = [*MMCORPUS, "docs", "build", str(inputs), "--out", str(out), "--inputs-per-shard", "1", "--no-progress",
           "--set", "pages.dpi=100"]
    cmd += ["--address", address] if address else ["--num-cpus", "2"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=ENV)


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
    address, _ = cluster
    log = _finish(_build(inputs, tmp_path / "c", address))
    assert _keys(tmp_path / "c") == reference
    assert "'CPU': 2.0" in log  # the driver saw the resources of both nodes


def test_worker_node_dies_mid_build(cluster, inputs, reference, tmp_path):
    address, worker = cluster
    out = tmp_path / "c"
    p = _build(inputs, out, address)
    _wait_for_shards(out, 2, p)
    _kill(worker)  # the second node and every task on it are gone
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
