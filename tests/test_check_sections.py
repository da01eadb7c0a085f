"""The section runner of `benchmarks/gpu_check.py`: a section that overruns its budget or raises is recorded with
its full traceback and the next one still runs; every measurement is on disk before the section ends; what is
left of the run's budget bounds each section; `only_failed` reruns only what did not end ok."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.check_sections import RESULTS, Sections  # noqa: E402

CPU = torch.device("cpu")


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RESULTS).read_text().splitlines()]


def _overrun(s: Sections) -> None:
    s.record("before", n=1)
    assert _lines(s.out)[-1] == {"section": "slow", "measure": "before", "n": 1}  # on disk already
    time.sleep(30)


def _deep_error(s: Sections) -> None:
    def inner(depth: int) -> None:
        if depth == 0:
            raise ValueError("at the bottom")
        inner(depth - 1)

    inner(12)


def test_sections_survive_overruns_and_errors_and_rerun_only_what_failed(tmp_path):
    s = Sections(tmp_path, CPU, budget_s=60, min_section_s=0.5)
    t0 = time.monotonic()
    assert s.run("slow", 1.0, _overrun) is None
    assert time.monotonic() - t0 < 10
    assert s.run("error", 5.0, _deep_error) is None
    assert s.run("fine", 5.0, lambda s: {"x": 1}) == {"section": "fine", "status": "ok", "seconds": 0.0,
                                                         "budget_s": 5.0, "x": 1}
    summaries = {line["section"]: line for line in _lines(tmp_path) if "status" in line}
    assert summaries["slow"]["status"] == "failed" and "SectionTimeout" in summaries["slow"]["error"]
    assert 'raise ValueError("at the bottom")' in summaries["error"]["traceback"]  # the innermost frame, 14 deep
    assert s.failed == ["slow", "error"]

    late = Sections(tmp_path, CPU, budget_s=0.2, min_section_s=0.5, only_failed=True)
    assert late.run("fine", 5.0, lambda s: {"x": 2}) is None  # ok in the earlier run: not rerun
    assert late.run("error", 5.0, lambda s: {"y": 3}) is None  # less than min_section_s left: skipped
    assert late.summaries["error"]["status"] == "skipped" and "fine" not in late.summaries
    assert late.done("fine")["x"] == 1
