"""CPU seconds used by this process and all its descendants (Ray's raylet, workers and their children).

Wall-clock ratios on a shared machine depend on what else runs; CPU seconds per item do not. A
benchmark reports both: the measured wall ratio, and the ratio the pipeline reaches when it keeps
`num_cpus` cores busy, `num_cpus * floor_cpu_per_item / pipeline_cpu_per_item`.
"""
from __future__ import annotations

import os
import time
from typing import Callable, TypeVar

import psutil

R = TypeVar("R")


def tree_cpu_seconds(exclude: tuple[int, ...] = ()) -> dict[int, float]:
    """{pid: user + system CPU seconds} for this process and every live descendant, but `exclude`
    (e.g. a local S3 server started as a subprocess, measured apart)."""
    me = psutil.Process()
    out = {}
    for p in [me, *me.children(recursive=True)]:
        if p.pid in exclude:
            continue
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two `tree_cpu_seconds` snapshots (processes that ended are lost)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def alternate_best(repeats: int, floor: Callable[[], float], reset: Callable[[], None], pipeline: Callable[[], R]
                   ) -> tuple[tuple[float, float], tuple[float, float], R]:
    """Run `floor` (which returns its own seconds) and, after `reset`, `pipeline` alternately `repeats` times, so
    both see the same machine load; each one's best (wall seconds, CPU seconds) and the last pipeline result."""
    floor_s = pipe_s = floor_cpu = pipe_cpu = float("inf")
    result: R | None = None
    for _ in range(repeats):
        before = tree_cpu_seconds()
        floor_s = min(floor_s, floor())
        floor_cpu = min(floor_cpu, cpu_between(before, tree_cpu_seconds()))
        reset()
        before, start = tree_cpu_seconds(), time.perf_counter()
        result = pipeline()
        pipe_s = min(pipe_s, time.perf_counter() - start)
        pipe_cpu = min(pipe_cpu, cpu_between(before, tree_cpu_seconds()))
    if result is None:
        raise ValueError("repeats must be at least 1")
    return (floor_s, floor_cpu), (pipe_s, pipe_cpu), result


def print_ratios(unit: str, n: int, floor: tuple[float, float], pipeline: tuple[float, float], num_cpus: int,
                 width: int) -> None:
    """The three ratio lines every throughput benchmark ends with: wall-clock ratio, CPU ms per `unit`,
    and the ratio reached with `num_cpus` cores kept busy; `floor`/`pipeline` are (seconds, CPU seconds)."""
    (floor_s, floor_cpu), (pipe_s, pipe_cpu) = floor, pipeline
    print(f"{'ratio pipeline / floor (wall clock)':{width}s} {floor_s / pipe_s:8.2f}x  (target >= 1.5x)")
    print(f"{f'CPU ms per {unit}: floor / pipeline':{width}s} {1000 * floor_cpu / n:8.2f} / {1000 * pipe_cpu / n:.2f}")
    print(f"{f'ratio with {num_cpus} cores kept busy (CPU time)':{width}s} "
          f"{num_cpus * floor_cpu / pipe_cpu:8.2f}x  (load average {os.getloadavg()[0]:.1f})")
