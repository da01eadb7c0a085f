"""Supervised fine-tuning of MiniCPM-V 4.5 on built corpora, top to bottom: `SFTTrainer` builds the model, the
optimizer and the loader and runs one step; the outer loop that drives it is `loop.py`'s, shared with RL and DPO.

    result = train_sft(SFTConfig(...))      # or: torchrun --nproc-per-node 8 -m cli.main train sft --config F

1. Join the process group (torchrun) or run as one process (`loop.launch`); print the per-GPU memory
   plan and refuse with advice when it will not fit (`memory_plan.py`); seed; build or load the model;
   freeze it for the stage (`freeze`: resampler / vision / all); wrap it (DDP, or FSDP2 per layer with bf16 compute and
   fp32 reduction; activation checkpointing per layer if asked); AdamW (fused on CUDA) + LR schedule.
2. Stream this rank's share of the corpora through `BridgeLoader`, each record processed by the model's
   processor: the released chat template renders short mode (an empty think block, not trained) or long
   mode (`<think>` reasoning trained) and labels only assistant spans. A micro-batch's samples are packed
   into one row, attention kept within each sample (`packing.py`; `data.pack`), and the loss comes from
   the LM head a chunk of positions at a time (never the full logits).
3. Each optimizer step takes `grad_accum` micro-batches. The loss is the sum of token losses over the
   step's labelled tokens on all ranks, divided by their count (computed before the backward passes),
   so every token weighs the same whatever the batch shapes; DDP syncs gradients on the last
   micro-batch only. bf16 autocast on CUDA (DDP), FSDP's own mixed precision under FSDP.
4. Every `save_every` steps and at the end: model + optimizer + scheduler + loader position + RNG
   (`loop.run_loop`, `checkpointing.py`); with `resume`, a rerun into the same `out_dir` continues from the
   newest one and sees the same batches it would have seen. `{out_dir}/final/model` holds the last weights.
5. The throughput meter times waiting for data against training; its data-wait fraction, samples/s and
   tokens/s are logged at the end and returned.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from corpus.config import to_dict
from training_bridge.data.loader import BridgeLoader
from training_bridge.data.packing import batch_samples, batch_tokens, pack_collate
from training_bridge.train.batch_device import to_device
from training_bridge.train.checkpointing import Resumed
from training_bridge.train.distributed import DistEnv, all_reduce_sum, no_sync, wrap_model
from training_bridge.train.freezing import cast_frozen, freeze_for_stage
from training_bridge.train.loop import CheckpointState, StepMetrics, launch, run_loop
from training_bridge.train.memory_plan import checked_plan
from training_bridge.train.meter import Throughput, ThroughputMeter
from training_bridge.train.model_build import build_model
from training_bridge.train.optim import build_optimizer, clip_gradients
from training_bridge.train.precision import autocast
from training_bridge.train.record_inputs import SftTransform, model_collate
from training_bridge.train.token_logprobs import label_tokens, token_logprobs
from training_bridge.train.train_config import SFTConfig

log = logging.getLogger(__name__)


@dataclass
class SFTResult:
    """Per-step mean token losses (of the steps this call ran), the throughput, and the final weights."""

    losses: list[float] = field(default_factory=list)
    throughput: Throughput | None = None
    final_model: Path | None = None
    start_step: int = 0


@dataclass
class SFTStep(StepMetrics):
    """What one SFT step logs: the mean token loss over the step's labelled tokens on all ranks, and more."""

    loss: float
    lr: float
    grad_norm: float
    tokens: int
    samples_seen: int


def train_sft(cfg: SFTConfig) -> SFTResult:
    """Run (or resume) the SFT described by `cfg`; see the module docstring."""
    def body(env: DistEnv) -> SFTResult:
        trainer = SFTTrainer(cfg, env)
        done = run_loop(trainer, cfg.run, env)
        return SFTResult([s.loss for s in done.history], trainer.throughput, done.final_model, done.start_step)

    return launch(cfg.run, body)


class SFTTrainer:
    """The model, optimizer and loader of an SFT run; `step` is one optimizer step (module docstring, 3.)."""

    name, progress = "sft", ("loss",)

    def __init__(self, cfg: SFTConfig, env: DistEnv) -> None:
        self.cfg, self.env, run = cfg, env, cfg.run
        plan = checked_plan(cfg, env)
        model, processor = build_model(cfg.model, run.seed)
        freeze_for_stage(model, cfg.freeze)
        if plan.inputs.bf16 and plan.inputs.parallel != "fsdp":
            cast_frozen(model, torch.bfloat16)
        self.model = wrap_model(model, env, run.parallel, run.precision, run.activation_checkpointing, run.reduce_dtype)
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim, run.steps)
        pad_id = processor.tokenizer.pad_token_id
        self.loader = BridgeLoader(
            cfg.data, rank=env.rank, world_size=env.world_size, transform=SftTransform(processor), pad_id=pad_id,
            collate=functools.partial(pack_collate if cfg.data.pack else model_collate, pad_token_id=pad_id),
        )
        self.meter = ThroughputMeter()
        self.throughput: Throughput | None = None

    def header(self) -> dict[str, Any]:
        return {"config": to_dict(self.cfg)}

    def start(self, resumed: Resumed | None) -> None:
        if resumed is not None:
            self.loader.load_state_dict(resumed.loader_state)
        self.batches = iter(self.loader)
        self.model.train()

    def step(self, step: int) -> SFTStep:
        env, run, model = self.env, self.cfg.run, self.model
        with self.meter.wait():
            micro = [next(self.batches) for _ in range(self.cfg.grad_accum)]
        local_tokens = sum(label_tokens(b) for b in micro)
        samples = sum(batch_samples(b) for b in micro)
        tokens = sum(batch_tokens(b) for b in micro)
        with self.meter.step(samples, tokens):
            step_tokens = all_reduce_sum(local_tokens, env)
            loss_sum = 0.0
            for i, batch in enumerate(micro):
                batch = to_device(batch, env.device)
                with no_sync(model, skip=i < len(micro) - 1):
                    with autocast(env.device, run.precision):
                        logp, _ = token_logprobs(model, batch, run.logprob_chunk)
                    # DDP and FSDP average gradients over ranks: scale by world size to get sum / all tokens.
                    loss = -logp.sum() * env.world_size / max(step_tokens, 1.0)
                    loss.backward()
                loss_sum += -float(logp.detach().sum())
            grad_norm = clip_gradients(model, self.cfg.optim.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        step_loss = all_reduce_sum(loss_sum, env) / max(step_tokens, 1.0)
        return SFTStep(step_loss, self.scheduler.get_last_lr()[0], grad_norm, int(step_tokens), self.loader.samples)

    def checkpoint_state(self) -> CheckpointState:
        return CheckpointState(loader=self.loader.state_dict())

    def finish(self) -> dict[str, Any]:
        """The throughput line: data-wait fraction, samples/s, tokens/s, and the samples skipped by reason."""
        t = self.throughput = self.meter.summary()
        log.info("throughput: %d steps, %.2f samples/s, %.0f tokens/s, data-wait fraction %.3f (%.2f s of %.2f s)",
                 t.steps, t.samples_per_s, t.tokens_per_s, t.wait_fraction, t.wait_seconds, t.seconds)
        if self.loader.failures:
            log.info("samples skipped by reason: %s", dict(self.loader.failures))
        return {"data_wait_fraction": t.wait_fraction, "samples_per_s": t.samples_per_s,
                "tokens_per_s": t.tokens_per_s, "skipped": dict(self.loader.failures)}
