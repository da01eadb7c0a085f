"""CPU seconds used by this process and all its descendants (Ray's raylet, workers and their children).

Wall-clock ratios on a shared machine depend on what else runs; CPU seconds per item do not. A
benchmark reports both: the measured wall ratio, and the ratio the pipeline reaches when it keeps
`num_cpus` cores busy, `num_cpus * floor_cpu_per_item / pipeline_cpu_per_item`.
"""
from __future__ import annotations

import psutil


def tree_cpu_seconds() -> dict[int, float]:
    """{pid: user + system CPU seconds} for this process and every live descendant."""
    me = psutil.Process()
    out = {}
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two `tree_cpu_seconds` snapshots (processes that ended are lost)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())
