"""Per-operator figures of a build, as datatrove's stats: rows in, rows out, rejected by reason, seconds.

Each operator counts what it does (`operators.base.Operator.tally`); its instance lives as long as its
worker process, so a shard task takes the difference over its shard (`shard_stages`) and returns it in
its summary row as compact JSON (a few hundred bytes per shard, whatever the shard's size). The driver
sums the rows (`add_stages`) into the manifest's run entry under `stages` (`corpus.manifest.stage_list`).
"""
from __future__ import annotations

import json
from typing import Any

from corpus.manifest import add_stage
from operators.base import Operator
from pipelines.engine.steps import Step, operator_instance


def operators_of(instance: Any) -> list[Operator]:
    """The operators a stage's instance runs: the links of a `Chain`, or the operator itself."""
    return list(getattr(instance, "ops", [instance]))


def _name(op: Operator) -> str:
    return type(op).__name__


def shard_stages(ops: list[Operator], before: list[dict[str, Any]]) -> str:
    """What `ops` did since their tallies were `before`, as JSON: {operator: [in, out, seconds, {reason: n}]}."""
    out: dict[str, list[Any]] = {}
    for op, b in zip(ops, before):
        now = op.tally()
        rejected = {k: n - b["rejected"].get(k, 0) for k, n in now["rejected"].items() if n != b["rejected"].get(k, 0)}
        name = _name(op)
        if seen := sum(k.split("#")[0] == name for k in out):  # one class twice in a pipeline: NAME#2, ...
            name = f"{name}#{seen + 1}"
        out[name] = [now["rows_in"] - b["rows_in"], now["rows_out"] - b["rows_out"],
                     round(now["seconds"] - b["seconds"], 4), rejected]
    return json.dumps(out, separators=(",", ":"))


def add_stages(total: dict[str, dict[str, Any]], shard: str) -> None:
    """Add one shard's `shard_stages` JSON to `total` (see `corpus.manifest.add_stage`)."""
    for name, (rows_in, rows_out, seconds, rejected) in json.loads(shard).items():
        add_stage(total, name, rows_in, rows_out, seconds, rejected)


def merge_stages(parts: list[str]) -> str:
    """Several `shard_stages` JSONs of one shard (its pieces) as one, summed per operator."""
    total: dict[str, dict[str, Any]] = {}
    for part in parts:
        add_stages(total, part)
    return json.dumps({name: [t["rows_in"], t["rows_out"], round(t["seconds"], 4), t["rejected"]]
                       for name, t in total.items()}, separators=(",", ":"))


class OperatorTally:
    """What the operators of `steps` (this process's cached instances) do from now on; `json()` says it
    as `shard_stages` JSON."""

    def __init__(self, steps: list[Step]) -> None:
        self.ops = [o for st in steps for o in operators_of(operator_instance(st.op, st.config))]
        self.before = [o.tally() for o in self.ops]

    def json(self) -> str:
        return shard_stages(self.ops, self.before)
