"""Ctrl-C during a real build exits 130 with one line of advice, and rerunning the same command finishes
the corpus byte for byte as an uninterrupted build wrote it: tars, stats, errors, the dedup table and the
manifest, except its `runs` list (the log of each run: ids, times, counts), which the README names as
run-specific."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli.main import main
from tests.test_images_pipeline import encode, smooth_image

ROOT = Path(__file__).resolve().parents[1]


def _files(corpus: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(corpus.rglob("*")):
        rel = p.relative_to(corpus).as_posix()
        if p.is_file() and rel not in (".lock", "catalog.duckdb"):
            data = p.read_bytes()
            if rel == "manifest.json":
                data = json.dumps({k: v for k, v in json.loads(data).items() if k != "runs"}, sort_keys=True).encode()
            out[rel] = data
    return out


def test_interrupted_build_resumes_to_the_same_bytes(tmp_path, ray_session):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(10):
        (photos / f"p{i:02d}.jpg").write_bytes(encode(smooth_image(100 + i), quality=95))
        (photos / f"p{i:02d}.txt").write_text(f"caption {i}")
    args = ["images", "build", str(photos), "--num-cpus", "1", "--inputs-per-shard", "1", "--no-progress"]

    whole = tmp_path / "whole"
    assert main(args + ["--out", str(whole)]) == 0

    cut = tmp_path / "cut"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Ctrl-C as a terminal sends it, even when this suite runs where SIGINT is ignored (a background job of
    # a script): a child that starts with SIGINT ignored never raises KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args, "--out", str(cut)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while not list(cut.glob("stats/*.parquet")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    done = len(list(cut.glob("stats/*.parquet")))
    assert proc.returncode == 130, err[-2000:]
    assert "rerun the same command to resume" in err and "Traceback" not in err
    assert 1 <= done < 10, "the interrupt must strike mid-build for this test to mean anything"

    assert main(args + ["--out", str(cut)]) == 0
    expected, got = _files(whole), _files(cut)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
