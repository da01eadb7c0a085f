"""Run logs: one JSON line of metrics per logged step in `{out_dir}/metrics.jsonl`, mirrored to logging.

Only rank 0 writes. `MetricsLog.write(step, metrics)` appends; a resumed run appends to the same file,
so the file is the run's whole history (steps after the last checkpoint of an interrupted run appear
twice; the later lines win).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MetricsLog:
    """Appends metrics lines for rank 0; every other rank's calls do nothing."""

    def __init__(self, out_dir: str | Path, enabled: bool, name: str = "metrics.jsonl") -> None:
        self.enabled = enabled
        self.path = Path(out_dir) / name
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, metrics: dict[str, Any], echo: bool = True) -> None:
        if not self.enabled:
            return
        line = {"step": step, **{k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(line) + "\n")
        if echo:
            log.info("step %d %s", step, " ".join(f"{k}={_fmt(v)}" for k, v in metrics.items()))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
