"""Shard planning without Ray: the assignment is a function of the sorted input ids and the shard size, and
a resume builds exactly the shards the store does not hold complete and recovers the unrecorded ones."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.manifest import Manifest
from pipelines.engine.plan import plan_shards, resume_manifest


def _items(ids: list[str]) -> list[InputItem]:
    return [InputItem(input_id=i, source=f"/in/{i}.pdf", kind="pdf") for i in ids]


IDS = [f"doc-{k:02d}" for k in range(10)]


def test_assignment_follows_sorted_ids_whatever_the_order_given():
    plan = plan_shards(_items(list(reversed(IDS))), 4, "docs")
    assert [it.input_id for it in plan.inputs] == IDS
    assert [(sid, seq, it.input_id) for sid, seq, it in plan.pending][:5] == [
        (0, 0, "doc-00"), (0, 1, "doc-01"), (0, 2, "doc-02"), (0, 3, "doc-03"), (1, 4, "doc-04")]
    assert plan.pending_shards == [0, 1, 2] and plan.shard_inputs(2) == ["doc-08", "doc-09"]
    assert plan.digest == plan_shards(_items(IDS), 4, "docs").digest
    assert plan.digest != plan_shards(_items(IDS), 5, "docs").digest  # another shard size renumbers
    assert plan.digest != plan_shards(_items(IDS[:-1]), 4, "docs").digest


def test_resume_builds_only_incomplete_shards_and_recovers_unrecorded_ones():
    # shards 0 and 2 are complete in the store; the manifest records only shard 0 (the run died before
    # recording shard 2), and names a shard 1 whose stats object is gone (a partial shard: redone)
    plan = plan_shards(_items(IDS), 4, "docs", done={0, 2}, recorded={"docs-000000", "docs-000001"})
    assert plan.pending_shards == [1]
    assert [it.input_id for _, _, it in plan.pending] == ["doc-04", "doc-05", "doc-06", "doc-07"]
    assert plan.recover == {2: ["doc-08", "doc-09"]}
    names = {f"docs-{k:06d}" for k in range(3)}
    everything = plan_shards(_items(IDS), 4, "docs", done={0, 1, 2}, recorded=names)
    assert everything.pending == [] and everything.recover == {}


def test_duplicate_ids_and_empty_shards_are_refused():
    with pytest.raises(ValueError, match="unique"):
        plan_shards(_items(["a", "b", "a"]), 4, "docs")
    with pytest.raises(UserError, match="inputs_per_shard"):
        plan_shards(_items(IDS), 0, "docs")


def test_resume_manifest_accepts_the_same_build_and_refuses_another():
    plan = plan_shards(_items(IDS), 4, "docs")
    fresh = resume_manifest(None, "docs", plan, "/out")
    assert (fresh.assignment, fresh.n_inputs, fresh.inputs_per_shard, fresh.prefix) == (plan.digest, 10, 4, "docs")
    assert resume_manifest(fresh, "docs", plan, "/out") is fresh
    with pytest.raises(UserError, match="different inputs"):
        resume_manifest(fresh, "docs", plan_shards(_items(IDS[:3]), 4, "docs"), "/out")
    other = Manifest(pipeline="images", prefix="images", assignment=plan.digest, inputs_per_shard=4, n_inputs=10)
    with pytest.raises(UserError, match="holds a 'images' corpus"):
        resume_manifest(other, "docs", plan, "/out")


def test_planning_does_not_import_ray():
    code = "import sys, pipelines.engine.plan; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1]).returncode == 0
