"""Which shard each input lands in, and what a (resumed) build still has to do: pure, no Ray, no I/O.

Shard `k` holds the inputs at positions `k * inputs_per_shard ...` of the inputs sorted by input id, so
the assignment is a function of the ids and the shard size alone (digested into the manifest) and a
rerun renumbers nothing. Resuming skips the shards the store holds complete (their stats object
exists) and recovers the manifest entries of those an earlier run completed but died before recording.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from functools import cached_property

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.manifest import Manifest, assignment_digest
from corpus.sink import shard_name


@dataclass(frozen=True)
class ShardPlan:
    """The assignment of sorted inputs to shards, and which shards this run builds or only records."""

    inputs: list[InputItem]  # sorted by input id
    inputs_per_shard: int
    prefix: str
    digest: str  # the manifest's `assignment`: changes whenever an input could change shard
    done: frozenset[int] = frozenset()  # shards the store holds complete
    recover: dict[int, list[str]] = field(default_factory=dict)  # done but not in the manifest: id -> input ids

    def shard_of(self, seq: int) -> int:
        """The shard of the input at position `seq` of the sorted inputs."""
        return seq // self.inputs_per_shard

    @cached_property
    def pending(self) -> list[tuple[int, int, InputItem]]:
        """(shard id, position, input) of every input this run builds, in input order."""
        assigned = ((self.shard_of(seq), seq, it) for seq, it in enumerate(self.inputs))
        return [a for a in assigned if a[0] not in self.done]

    @cached_property
    def pending_shards(self) -> list[int]:
        """The shard ids this run builds, ascending."""
        return sorted({sid for sid, _, _ in self.pending})

    def shard_inputs(self, sid: int) -> list[str]:
        """The input ids of shard `sid`."""
        return [it.input_id for it in self.inputs[sid * self.inputs_per_shard:(sid + 1) * self.inputs_per_shard]]

    def resumed(self, done: Collection[int], recorded: Collection[str]) -> ShardPlan:
        """This assignment with `done` (shard ids the store holds complete) skipped, and those of them that
        `recorded` (the shard names the manifest lists) lacks marked for recovery."""
        recover = {sid: self.shard_inputs(sid) for sid in sorted(done) if shard_name(self.prefix, sid) not in recorded}
        return replace(self, done=frozenset(done), recover=recover)


def plan_shards(inputs: list[InputItem], inputs_per_shard: int, prefix: str, done: Collection[int] = (),
                recorded: Collection[str] = ()) -> ShardPlan:
    """The plan for `inputs`; `done`: shard ids the store holds complete, `recorded`: shard names the
    manifest lists. ValueError when two inputs share an id, UserError when `inputs_per_shard` < 1."""
    ids = [i.input_id for i in inputs]
    if len(set(ids)) != len(ids):
        raise ValueError("input ids must be unique; the same file was given twice")
    if inputs_per_shard < 1:
        raise UserError(f"run.inputs_per_shard is {inputs_per_shard}; it must be at least 1")
    ordered = sorted(inputs, key=lambda i: i.input_id)
    digest = assignment_digest([i.input_id for i in ordered], inputs_per_shard)
    return ShardPlan(ordered, inputs_per_shard, prefix, digest).resumed(done, recorded)


def resume_manifest(manifest: Manifest | None, pipeline: str, plan: ShardPlan, where: str) -> Manifest:
    """The manifest to continue: `manifest` when it is of the same build, a new one when there is none;
    UserError when the corpus at `where` is of another pipeline or was started with other inputs."""
    if manifest is None:
        return Manifest(pipeline=pipeline, prefix=plan.prefix, assignment=plan.digest,
                        inputs_per_shard=plan.inputs_per_shard, n_inputs=len(plan.inputs))
    if manifest.pipeline != pipeline or manifest.prefix != plan.prefix:
        raise UserError(
            f"{where} holds a '{manifest.pipeline}' corpus (prefix '{manifest.prefix}'); "
            f"build '{pipeline}' into another --out."
        )
    if manifest.assignment != plan.digest:
        raise UserError(
            f"{where} was started with different inputs or shard size; resuming would renumber shards. "
            "Use the same inputs and --inputs-per-shard, or a new --out."
        )
    return manifest
