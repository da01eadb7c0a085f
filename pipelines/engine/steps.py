"""A step of a pipeline: one operator (or `Chain`) with the CPUs its task takes, and running steps on rows.

A build runs all of a pipeline's steps fused inside one task per shard (`pipelines.engine.shard_task`):
rows go through each step's operator in turn, lazily, one operator instance per worker process and
configuration (models load once).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Step:
    """One operator of a pipeline with its config and the CPUs a task running it takes."""

    op: type
    config: Any = None
    num_cpus: float = 1.0


_INSTANCES: dict[tuple[type, str], Any] = {}


def operator_instance(op: type, config: Any) -> Any:
    """One operator instance per worker process and configuration (models load once)."""
    k = (op, repr(config))
    if k not in _INSTANCES:
        _INSTANCES[k] = op(config)
    return _INSTANCES[k]


def run_steps(steps: list[Step], rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Rows through every step's operator in turn, lazily (operators are cached per process)."""
    for st in steps:
        rows = operator_instance(st.op, st.config).run_rows(rows)
    return iter(rows)
