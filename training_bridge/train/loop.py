"""The outer training loop the three trainers share (SFT, GRPO, DPO); each supplies only its step.

    return launch(cfg.run, lambda env: run_loop(MyTrainer(cfg, env), cfg.run, env))

`launch` joins the process group (torchrun) or runs as one process, sets torch's thread count, seeds Python's
and torch's RNGs with `run.seed` (the same initial weights on every rank) and leaves the group at the end.
`run_loop` drives a `Trainer` from step 0, or from the newest checkpoint in `run.out_dir`, to `run.steps`:

1. With `run.resume` and a checkpoint: model, optimizer, LR scheduler and RNG restored, then
   `trainer.start(resumed)` restores the trainer's own state (loader position, RLPR std filter); a fresh
   run's `trainer.start(None)` may seed per rank, and `trainer.header()` is the metrics file's step-0 line.
2. Each step: `trainer.step(step)` runs one optimizer step on every rank and returns its metrics, the same
   on every rank; logged every `log_every` steps and at the last (`runlog.py`), shown on the progress bar.
3. Every `save_every` steps and at the last: a checkpoint with `trainer.checkpoint_state()` (`checkpointing.py`).
4. At the end: `trainer.finish()`'s summary line, if any, and the final weights in `{out_dir}/final/model`.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Protocol, TypeVar

import torch
from torch import nn
from tqdm import tqdm

from training_bridge.train.checkpointing import (
    Resumed,
    latest_checkpoint,
    load_training_state,
    save_model,
    save_training_state,
)
from training_bridge.train.distributed import DistEnv, barrier, init_distributed, shutdown
from training_bridge.train.runlog import MetricsLog
from training_bridge.train.train_config import TrainRun

log = logging.getLogger(__name__)


@dataclass
class StepMetrics:
    """What one step reports; its fields that are not None make the step's metrics line."""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class CheckpointState:
    """A trainer's own state saved with each checkpoint: this rank's loader position, and shared extras."""

    loader: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


S = TypeVar("S", bound=StepMetrics)
S_co = TypeVar("S_co", bound=StepMetrics, covariant=True)
R = TypeVar("R")


class Trainer(Protocol[S_co]):
    """What a trainer supplies to `run_loop`: its modules and one step (module docstring)."""

    name: str  # progress bar label
    progress: tuple[str, ...]  # metrics shown on the progress bar
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None

    def header(self) -> dict[str, Any]: ...

    def start(self, resumed: Resumed | None) -> None: ...

    def step(self, step: int) -> S_co: ...

    def checkpoint_state(self) -> CheckpointState: ...

    def finish(self) -> dict[str, Any] | None: ...


@dataclass
class LoopResult(Generic[S]):
    """The metrics of the steps this call ran, the step it started from, and the final weights."""

    history: list[S] = field(default_factory=list)
    start_step: int = 0
    final_model: Path | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def set_threads(cpu_threads: int) -> None:
    """Torch's intra-op thread count, when configured (> 0)."""
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)


def launch(run: TrainRun, body: Callable[[DistEnv], R]) -> R:
    """`body(env)` inside the process group, with `run`'s thread count and seed."""
    env = init_distributed()
    try:
        set_threads(run.cpu_threads)
        seed_everything(run.seed)
        return body(env)
    finally:
        shutdown(env)


def run_loop(trainer: Trainer[S], run: TrainRun, env: DistEnv) -> LoopResult[S]:
    """Run (or resume) `trainer` to `run.steps`; see the module docstring."""
    out_dir = Path(run.out_dir)
    step = 0
    checkpoint = latest_checkpoint(out_dir) if run.resume else None
    resumed = None
    if checkpoint is not None:
        resumed = load_training_state(checkpoint, env, trainer.model, trainer.optimizer, trainer.scheduler)
        step = resumed.step
        log.info("resumed from %s at step %d", checkpoint, step)
    trainer.start(resumed)
    metrics = MetricsLog(out_dir, env.is_main)
    if resumed is None:
        metrics.write(0, trainer.header(), echo=False)

    result: LoopResult[S] = LoopResult(start_step=step)
    bar = tqdm(total=run.steps, initial=step, desc=trainer.name, disable=not (run.progress and env.is_main))
    while step < run.steps:
        stats = trainer.step(step)
        step += 1
        result.history.append(stats)
        line = stats.as_dict()
        bar.update(1)
        bar.set_postfix({k: f"{line[k]:.3f}" for k in trainer.progress if k in line})
        if step % run.log_every == 0 or step == run.steps:
            metrics.write(step, line)
        if step == run.steps or (run.save_every and step % run.save_every == 0):
            state = trainer.checkpoint_state()
            save_training_state(out_dir, step, env, trainer.model, trainer.optimizer, trainer.scheduler,
                                loader_state=state.loader, extra=state.extra, keep=run.keep_checkpoints)
    bar.close()

    summary = trainer.finish()
    if summary is not None:
        metrics.write(step, summary, echo=False)
    barrier(env)
    result.final_model = out_dir / "final" / "model"
    save_model(trainer.model, result.final_model, env)
    return result
