"""`benchmarks/gpu_check.py --cpu`: every section of the GPU check runs here first, scaled down, so none reaches
the GPU untried; and the check survives an interpreter that has only torch, transformers and what they require
(the GPU image's), then reruns just the sections that did not end ok."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "benchmarks" / "gpu_check.py"
SECTIONS = ["env", "batches", "plan", "resampler", "attention", "sft_pt1", "rollouts", "sft_all", "ocr"]
PROJECT = {"model", "training_bridge", "corpus", "schemas", "benchmarks"}  # this checkout's code
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # one torch thread: on a shared 2-core machine more spin (10x slower)


def _check(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = (f"import runpy, sys\n{prelude}\nsys.argv = [{str(CHECK)!r}, *{list(args)!r}]\n"
            f"runpy.run_path({str(CHECK)!r}, run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900, env=ENV)


def _summaries(out: Path) -> dict[str, dict]:
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {line["section"]: line for line in lines if "status" in line}


def _runs(out: Path) -> list[str]:
    return [line["section"] for line in map(json.loads, (out / "results.jsonl").read_text().splitlines())
            if "status" in line]


def _needed_by_torch_and_transformers() -> set[str]:
    """Top-level import names of torch, transformers, numpy and every distribution they require, recursively."""
    seen, todo = set(), ["torch", "transformers", "numpy"]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for raw in requires:
            req = Requirement(raw)
            if req.marker is None or Marker(str(req.marker)).evaluate({"extra": ""}):
                todo.append(req.name)
    return {top for top, dists in importlib.metadata.packages_distributions().items()
            if any(d.lower().replace("_", "-") in seen for d in dists)}


def test_cpu_check_runs_every_section_and_records_each(tmp_path):
    done = subprocess.run([sys.executable, str(CHECK), "--cpu", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env=ENV)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summaries = _summaries(tmp_path)
    assert _runs(tmp_path) == SECTIONS and all(s["status"] == "ok" for s in summaries.values())
    assert summaries["batches"]["slices_max"] > 0 and summaries["plan"]["shape"] == "measured"
    attention = summaries["attention"]
    assert attention["max_rel_diff"] < 1e-4 and attention["sdpa_packed_tflop"] < attention["sdpa_tflop"]
    for stage in ("sft_pt1", "sft_all"):
        figures = summaries[stage]
        assert figures["batches"] == "bridge" and figures["data_wait"] is not None
        assert {"forward_ms", "backward_ms", "optimizer_ms", "wait_ms", "plan_gib"} <= figures.keys()
    assert summaries["rollouts"]["verdict"] in ("PASS", "FAIL")
    assert "== targets" in done.stdout and "batched rollouts >= 5x one at a time" in done.stdout


def test_check_survives_an_interpreter_with_only_torch_and_transformers_then_reruns_what_failed(tmp_path):
    # every installed module outside torch, transformers, numpy and their requirements cannot be imported
    absent = sorted(set(importlib.metadata.packages_distributions()) - _needed_by_torch_and_transformers() - PROJECT)
    assert {"PIL", "pyarrow", "ray", "scipy"} <= set(absent)
    bare = _check("--cpu", "--out", str(tmp_path), prelude=f"for m in {absent!r}:\n    sys.modules[m] = None\n")
    assert bare.returncode == 1, bare.stdout[-4000:] + bare.stderr[-4000:]
    summaries = _summaries(tmp_path)
    assert {name for name, s in summaries.items() if s["status"] != "ok"} == {"batches", "rollouts"}
    assert all(summaries[n]["status"] == "skipped" and "PIL" in summaries[n]["error"] for n in ("batches", "rollouts"))
    assert summaries["sft_pt1"]["batches"] == summaries["sft_all"]["batches"] == "synthetic"
    assert summaries["plan"]["shape"] == "fallback"

    again = _check("--cpu", "--out", str(tmp_path), "--only-failed")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert _runs(tmp_path) == SECTIONS + ["batches", "rollouts"]  # only those two ran again
    assert all(s["status"] == "ok" for s in _summaries(tmp_path).values())
