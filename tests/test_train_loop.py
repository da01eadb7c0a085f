"""The outer loop the three trainers share, driven by a toy trainer on the tiny model: metrics cadence, save
cadence, an interrupted run resumed from its newest checkpoint with the trainer's own state, and the rows
GRPO and DPO take per step (one function serves both)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from model.config import tiny
from model.minicpmv import MiniCPMV
from training_bridge.rl.picking import epoch_rows, pick_prompts
from training_bridge.train.checkpointing import Resumed, read_weights
from training_bridge.train.loop import CheckpointState, StepMetrics, launch, run_loop
from training_bridge.train.train_config import GRPOConfig, TrainRun


@dataclass
class ToyStep(StepMetrics):
    loss: float
    skipped: float | None = None  # None: left out of the metrics line


class ToyTrainer:
    """Pulls the resampler's weights towards zero; counts its steps in its own checkpointed state."""

    name, progress = "toy", ("loss",)

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = MiniCPMV(tiny())
        self.optimizer = torch.optim.AdamW(self.model.resampler.parameters(), lr=0.01)
        self.scheduler = None
        self.steps_run = 0
        self.resumed_with: dict | None = None

    def header(self) -> dict:
        return {"config": "toy"}

    def start(self, resumed: Resumed | None) -> None:
        if resumed is not None:
            self.resumed_with = resumed.extra
            self.steps_run = resumed.extra["steps_run"]

    def step(self, step: int) -> ToyStep:
        loss = sum((p**2).sum() for p in self.model.resampler.parameters())
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps_run += 1
        return ToyStep(float(loss.detach()))

    def checkpoint_state(self) -> CheckpointState:
        return CheckpointState(extra={"steps_run": self.steps_run})

    def finish(self) -> dict:
        return {"steps_run": self.steps_run}


def _run(out: Path, **kw) -> TrainRun:
    return TrainRun(out_dir=str(out), steps=6, log_every=2, save_every=3, progress=False, **kw)


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_loop_logs_saves_and_resumes_exactly(tmp_path):
    full = launch(_run(tmp_path / "a"), lambda env: run_loop(ToyTrainer(), _run(tmp_path / "a"), env))
    assert full.start_step == 0 and len(full.history) == 6
    assert full.history[-1].loss < full.history[0].loss
    lines = _lines(tmp_path / "a")
    assert lines[0] == {"step": 0, "config": "toy"}
    assert [m["step"] for m in lines[1:-1]] == [2, 4, 6] and all(m.keys() == {"step", "loss"} for m in lines[1:-1])
    assert lines[-1] == {"step": 6, "steps_run": 6}  # `finish`'s summary line
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == ["step-00000003", "step-00000006"]

    # interrupted after step 3: a rerun starts there, with the trainer's state, and ends where the full run did
    shutil.copytree(tmp_path / "a" / "checkpoints" / "step-00000003", tmp_path / "b" / "checkpoints" / "step-00000003")
    trainer = ToyTrainer()
    part = launch(_run(tmp_path / "b"), lambda env: run_loop(trainer, _run(tmp_path / "b"), env))
    assert part.start_step == 3 and trainer.resumed_with == {"steps_run": 3} and trainer.steps_run == 6
    assert [h.loss for h in part.history] == [h.loss for h in full.history[3:]]
    assert not any("config" in m for m in _lines(tmp_path / "b"))  # the header belongs to a fresh run only
    a, b = read_weights(full.final_model), read_weights(part.final_model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_epoch_rows_are_permutations_and_picks_mix_modes():
    n, size = 5, 3
    rows = [r for step in range(5) for r in epoch_rows(n, size, step, seed=7, rank=0)]  # 15 positions: 3 epochs
    assert all(sorted(rows[e * n : (e + 1) * n]) == list(range(n)) for e in range(3))
    assert rows != [r for step in range(5) for r in epoch_rows(n, size, step, seed=7, rank=1)]  # ranks differ
    assert epoch_rows(0, size, 0, seed=7, rank=0) == []
    cfg = GRPOConfig(prompts_per_step=4, long_fraction=0.5)
    picks = pick_prompts(n, cfg, 2, seed=7, rank=0)
    assert [i for i, _ in picks] == epoch_rows(n, 4, 2, seed=7, rank=0)  # the same rows as DPO's, for 4 a step
    assert sorted(m for _, m in picks) == ["long", "long", "short", "short"]
