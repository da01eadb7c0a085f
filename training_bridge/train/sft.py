"""Supervised fine-tuning of MiniCPM-V 4.5 on built corpora: the whole loop, top to bottom.

    result = train_sft(SFTConfig(...))      # or: torchrun --nproc-per-node 8 -m cli.main train sft --config F

1. Join the process group (torchrun) or run as one process; print the per-GPU memory plan and refuse
   with advice when it will not fit (`memory_plan.py`); seed; build or load the model; freeze it for the
   stage (`freeze`: resampler / vision / all); wrap it (DDP, or FSDP2 per layer with bf16 compute and
   fp32 reduction; activation checkpointing per layer if asked); AdamW (fused on CUDA) + LR schedule.
2. Stream this rank's share of the corpora through `BridgeLoader`, each record processed by the model's
   processor: the chat template renders short mode (an empty think block, not trained) or long mode
   (`<think>` reasoning trained) and labels only assistant spans (PAPER.md section 7). A micro-batch's
   samples are packed into one row, attention kept within each sample (`packing.py`; `data.pack`), and
   the loss comes from the LM head a chunk of positions at a time (never the full logits).
3. Each optimizer step takes `grad_accum` micro-batches. The loss is the sum of token losses over the
   step's labelled tokens on all ranks, divided by their count (computed before the backward passes),
   so every token weighs the same whatever the batch shapes; DDP syncs gradients on the last
   micro-batch only. bf16 autocast on CUDA (DDP), FSDP's own mixed precision under FSDP.
4. Every `save_every` steps and at the end: model + optimizer + scheduler + loader position + RNG
   (`checkpointing.py`); with `resume`, a rerun into the same `out_dir` continues from the newest one and
   sees the same batches it would have seen. `{out_dir}/final/model` holds the last weights.
5. The throughput meter times waiting for data against training; its data-wait fraction, samples/s and
   tokens/s are logged at the end and returned.
"""
from __future__ import annotations

import functools
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from corpus.config import to_dict
from training_bridge.data.decode import DecodeLimits
from training_bridge.data.loader import BridgeLoader, LoaderConfig
from training_bridge.data.mixing import MIX_SIZES, MIX_WEIGHTS, Source
from training_bridge.data.packing import batch_samples, batch_tokens, pack_collate
from training_bridge.data.stream import StreamConfig
from training_bridge.train.checkpointing import latest_checkpoint, load_training_state, save_model, save_training_state
from training_bridge.train.distributed import DistEnv, all_reduce_sum, init_distributed, no_sync, shutdown, wrap_model
from training_bridge.train.freezing import apply_stage, cast_frozen
from training_bridge.train.memory_plan import plan_for
from training_bridge.train.meter import Throughput, ThroughputMeter
from training_bridge.train.model_io import (
    SftTransform,
    autocast,
    build_model,
    label_tokens,
    model_collate,
    to_device,
    token_logprobs,
)
from training_bridge.train.optim import build_optimizer, clip_gradients
from training_bridge.train.runlog import MetricsLog
from training_bridge.train.train_config import DataSpec, SFTConfig

log = logging.getLogger(__name__)


@dataclass
class SFTResult:
    """Per-step mean token losses (of the steps this call ran), the throughput, and the final weights."""

    losses: list[float] = field(default_factory=list)
    throughput: Throughput | None = None
    final_model: Path | None = None
    start_step: int = 0


def stream_config(data: DataSpec, pad_id: int) -> StreamConfig:
    """The data side's stream config from our `DataSpec`."""
    if not data.corpora:
        raise ValueError("data.corpora is empty: name at least one built corpus")
    weights = data.weights or [1.0] * len(data.corpora)
    if len(weights) != len(data.corpora):
        raise ValueError(f"{len(data.corpora)} corpora but {len(weights)} weights")
    mixing = MIX_WEIGHTS if data.weights else MIX_SIZES  # no weights: every sample once per epoch
    return StreamConfig([Source(u, w) for u, w in zip(data.corpora, weights)], seed=data.seed,
                        shuffle_buffer=data.shuffle_buffer, max_tokens=data.max_tokens, pad_id=pad_id,
                        mixing=mixing, decode=DecodeLimits(data.max_image_pixels, data.max_images))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def set_threads(cpu_threads: int) -> None:
    """Torch's intra-op thread count, when configured (> 0)."""
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)


def train_sft(cfg: SFTConfig) -> SFTResult:
    """Run (or resume) the SFT described by `cfg`; see the module docstring."""
    env = init_distributed()
    try:
        return _train(cfg, env)
    finally:
        shutdown(env)


def _train(cfg: SFTConfig, env: DistEnv) -> SFTResult:
    run, out_dir = cfg.run, Path(cfg.run.out_dir)
    set_threads(run.cpu_threads)
    plan = plan_for(cfg, env.world_size, env.device)
    if env.is_main:
        log.info("%s", plan.table())
    plan.check()
    seed_everything(run.seed)  # same initial weights on every rank
    model, processor = build_model(cfg.model, run.seed)
    apply_stage(model, cfg.freeze)
    if plan.inputs.bf16 and plan.inputs.parallel != "fsdp":
        cast_frozen(model, torch.bfloat16)
    model = wrap_model(model, env, run.parallel, run.precision, run.activation_checkpointing, run.reduce_dtype)
    optimizer, scheduler = build_optimizer(model, cfg.optim, run.steps)

    pad_id = processor.tokenizer.pad_token_id
    loader = BridgeLoader(
        stream_config(cfg.data, pad_id),
        LoaderConfig(num_workers=cfg.data.num_workers, prefetch_factor=cfg.data.prefetch_factor,
                     max_skipped=cfg.data.max_skipped),
        rank=env.rank, world_size=env.world_size, transform=SftTransform(processor),
        collate=functools.partial(pack_collate if cfg.data.pack else model_collate, pad_token_id=pad_id),
    )

    step = 0
    checkpoint = latest_checkpoint(out_dir) if run.resume else None
    if checkpoint is not None:
        resumed = load_training_state(checkpoint, env, model, optimizer, scheduler)
        loader.load_state_dict(resumed.loader_state)
        step = resumed.step
        log.info("resumed from %s at step %d", checkpoint, step)
    metrics = MetricsLog(out_dir, env.is_main)
    if env.is_main and checkpoint is None:
        metrics.write(0, {"config": to_dict(cfg)}, echo=False)

    result = SFTResult(start_step=step)
    meter = ThroughputMeter()
    batches = iter(loader)
    model.train()
    bar = tqdm(total=run.steps, initial=step, desc="sft", disable=not (run.progress and env.is_main))
    while step < run.steps:
        with meter.wait():
            micro = [next(batches) for _ in range(cfg.grad_accum)]
        local_tokens = sum(label_tokens(b) for b in micro)
        samples = sum(batch_samples(b) for b in micro)
        tokens = sum(batch_tokens(b) for b in micro)
        with meter.step(samples, tokens):
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
            grad_norm = clip_gradients(model, cfg.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        step += 1
        step_loss = all_reduce_sum(loss_sum, env) / max(step_tokens, 1.0)
        result.losses.append(step_loss)
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}")
        if step % run.log_every == 0 or step == run.steps:
            metrics.write(step, {"loss": step_loss, "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm,
                                 "tokens": int(step_tokens), "samples_seen": loader.samples})
        if step == run.steps or (run.save_every and step % run.save_every == 0):
            save_training_state(out_dir, step, env, model, optimizer, scheduler, loader.state_dict(),
                                keep=run.keep_checkpoints)
    bar.close()

    result.throughput = meter.summary()
    t = result.throughput
    log.info("throughput: %d steps, %.2f samples/s, %.0f tokens/s, data-wait fraction %.3f (%.2f s of %.2f s)",
             t.steps, t.samples_per_s, t.tokens_per_s, t.wait_fraction, t.wait_seconds, t.seconds)
    if loader.failures:
        log.info("samples skipped by reason: %s", dict(loader.failures))
    metrics.write(step, {"data_wait_fraction": t.wait_fraction, "samples_per_s": t.samples_per_s,
                         "tokens_per_s": t.tokens_per_s, "skipped": dict(loader.failures)}, echo=False)
    result.final_model = out_dir / "final" / "model"
    save_model(model, result.final_model, env)
    return result
