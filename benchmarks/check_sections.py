"""A long check made of sections that survive each other, its results written as they are taken.

    sections = Sections(Path(out), device, budget_s=570, only_failed=False, chosen=None)
    figures = sections.run("name", budget_s, fn, *args)   # fn(sections, *args) -> dict of summary figures, or None

Each section runs under its own time budget (`SectionTimeout` is raised inside it when the budget, or what is
left of the whole run's, is spent), prints its full traceback when it fails, and never stops the next one.
Every measurement is one JSON line appended to `OUT/results.jsonl` and flushed to disk as it is taken
(`record`), so a run killed at any point keeps everything it measured; each section ends with one summary
line (`"status"`: ok, failed, or skipped when the run's budget is spent or the interpreter lacks a module the
section imports; seconds, budget, its figures, the traceback when it did not end ok). Between
sections the caches are emptied and the device's free memory printed and recorded.

`only_failed=True` reads the results already in `OUT` and runs only the sections without an `ok` summary
there (failed, skipped, or never reached); the summaries of the others stay available through `done()` to the
sections that depend on them. `chosen` restricts the run to a set of section names.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

GIB = 1024**3
RESULTS = "results.jsonl"


class SectionTimeout(BaseException):
    """The running section spent its time budget (a BaseException: code under test must not swallow it)."""


def _alarm(signum: int, frame: object) -> None:
    raise SectionTimeout("the section's time budget is spent")


class Sections:
    """The section runner and the results file of one check run; see the module docstring."""

    def __init__(self, out: Path, device: torch.device, budget_s: float, only_failed: bool = False,
                 chosen: set[str] | None = None, min_section_s: float = 15.0) -> None:
        """`min_section_s`: a section offered less time than this (of what is left of `budget_s`) is skipped."""
        self.out, self.device, self.chosen, self.min_section_s = out, device, chosen, min_section_s
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / RESULTS
        self.previous = _summaries(self.path) if only_failed else {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self.deadline = time.monotonic() + budget_s
        self.section: str | None = None
        self.section_deadline = self.deadline

    # -- results -----------------------------------------------------------------------------------------------
    def record(self, measure: str, **fields: Any) -> dict[str, Any]:
        """Append one measurement of the running section to the results file (flushed and synced) and print it."""
        line = {"section": self.section, "measure": measure, **fields}
        self._write(line)
        shown = ", ".join(f"{k} {_short(v)}" for k, v in fields.items())
        print(f"   [{measure}] {shown}", flush=True)
        return line

    def _write(self, line: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(line, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def done(self, name: str) -> dict[str, Any] | None:
        """The summary of section `name` if it ended ok, in this run or (with `only_failed`) an earlier one."""
        summary = self.summaries.get(name) or self.previous.get(name)
        return summary if summary and summary.get("status") == "ok" else None

    @property
    def failed(self) -> list[str]:
        return [name for name, s in self.summaries.items() if s["status"] != "ok"]

    def seconds_left(self) -> float:
        """Time left to the running section (its budget, or the whole run's, whichever ends first)."""
        return self.section_deadline - time.monotonic()

    # -- running -----------------------------------------------------------------------------------------------
    def run(self, name: str, budget_s: float, fn: Callable[..., dict[str, Any] | None], *args: Any
            ) -> dict[str, Any] | None:
        """Run section `name` (module docstring); its figures, or None when it failed or was not run."""
        if self.chosen is not None and name not in self.chosen:
            return None
        if self.previous.get(name, {}).get("status") == "ok":
            print(f"\n== {name}: ok in an earlier run, not rerun", flush=True)
            return None
        left = self.deadline - time.monotonic()
        budget = min(budget_s, left)
        print(f"\n== {name} (budget {budget:.0f} s)", flush=True)
        self.section = name
        if budget < self.min_section_s:
            return self._end(name, "skipped", 0.0, budget_s, {"reason": f"{left:.0f} s left of the run's budget"})
        self.section_deadline = time.monotonic() + budget
        t0 = time.monotonic()
        previous_handler = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, budget)
        try:
            figures = fn(self, *args) or {}
            status, extra = "ok", figures
        except (Exception, SectionTimeout) as exc:  # noqa: BLE001 - report and go on to the next section
            trace = traceback.format_exc()
            print(trace, flush=True)
            status = "skipped" if isinstance(exc, ModuleNotFoundError) else "failed"  # this interpreter lacks it
            extra = {"error": f"{type(exc).__name__}: {exc}", "traceback": trace}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
        seconds = time.monotonic() - t0
        self.free()
        return self._end(name, status, seconds, budget_s, extra)

    def _end(self, name: str, status: str, seconds: float, budget_s: float, extra: dict[str, Any]
             ) -> dict[str, Any] | None:
        summary = {"section": name, "status": status, "seconds": round(seconds, 1), "budget_s": budget_s, **extra}
        self.summaries[name] = summary
        self._write(summary)
        print(f"-- {name}: {status} ({seconds:.1f} s)" + (f": {extra.get('error') or extra.get('reason')}"
                                                         if status != "ok" else ""), flush=True)
        self.section = None
        return summary if status == "ok" else None

    def free(self) -> None:
        """Collect garbage, empty the allocator's cache, and print and record the device's free memory."""
        gc.collect()
        if self.device.type == "cpu":
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux
            print(f"   memory: peak resident {rss:.2f} GiB (CPU)", flush=True)
            self._write({"section": self.section, "measure": "memory after", "max_rss_gib": round(rss, 2)})
        else:
            torch.cuda.empty_cache()
            free, total = torch.cuda.mem_get_info(self.device)
            line = {"free_gib": round(free / GIB, 2), "total_gib": round(total / GIB, 2),
                    "allocated_gib": round(torch.cuda.memory_allocated(self.device) / GIB, 2)}
            print(f"   memory: {line['free_gib']} GiB free of {line['total_gib']} "
                  f"({line['allocated_gib']} GiB still allocated)", flush=True)
            self._write({"section": self.section, "measure": "memory after", **line})


def _summaries(path: Path) -> dict[str, dict[str, Any]]:
    """The last summary line of each section in an existing results file."""
    out: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for raw in path.read_text().splitlines():
            line = json.loads(raw)
            if "status" in line:
                out[line["section"]] = line
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, ... ({len(value)})]"
    return str(value)
