"""A few SFT steps of the tiny model on fixed packed batches, in one process or under torchrun (FSDP2, gloo).

    python tests/fsdp_worker.py OUT --steps 4                                   # one process
    python -m torch.distributed.run --nproc-per-node 2 tests/fsdp_worker.py OUT --steps 4 --parallel fsdp

Each step has four packed micro-batches (text and image samples); with W ranks, rank r takes micro-batches
r, r + W, ... and the loss is the sum of token losses over all four divided by their labelled tokens, as
`training_bridge.train.sft` computes it. Rank 0 appends `{"step", "loss"}` lines to OUT/losses.jsonl. With
`--save-at K` a training checkpoint is written after step K; `--stop-at K` ends the run there (a crash);
a rerun into the same OUT resumes from the newest checkpoint.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training_bridge.data.packing import pack_collate  # noqa: E402
from training_bridge.train.checkpointing import latest_checkpoint, load_training_state, save_training_state  # noqa: E402
from training_bridge.train.distributed import all_reduce_sum, init_distributed, no_sync, shutdown, wrap_model  # noqa: E402
from training_bridge.train.model_build import build_model  # noqa: E402
from training_bridge.train.optim import build_optimizer, clip_gradients  # noqa: E402
from training_bridge.train.record_inputs import sample_to_dict  # noqa: E402
from training_bridge.train.token_logprobs import label_tokens, token_logprobs  # noqa: E402
from training_bridge.train.train_config import ModelSpec, OptimConfig  # noqa: E402

MICRO = 4


def step_batches(processor, step: int) -> list[dict]:
    """The step's packed micro-batches: fixed by the step index alone."""
    out = []
    for m in range(MICRO):
        k = step * MICRO + m
        img = Image.new("RGB", (64 + 8 * k, 48 + 4 * m), ((37 * k) % 256, 90, (11 * m) % 256))
        samples = [processor([{"role": "user", "content": "<image>\nWhat colour?"},
                              {"role": "assistant", "content": f"colour number {k} " * (1 + m)}], [img], []),
                   processor([{"role": "user", "content": f"Count to {k}."},
                              {"role": "assistant", "content": " ".join(str(i) for i in range(k + 2))}], [], [])]
        out.append(pack_collate([sample_to_dict(s) for s in samples], 0))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--parallel", default="none")
    p.add_argument("--save-at", type=int, default=0)
    p.add_argument("--stop-at", type=int, default=0)
    p.add_argument("--activation-checkpointing", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    env = init_distributed()
    out = Path(args.out)
    torch.manual_seed(0)
    model, processor = build_model(ModelSpec(preset="tiny", max_slice_nums=1), seed=0)
    model = wrap_model(model, env, args.parallel, "fp32", args.activation_checkpointing)
    optimizer, scheduler = build_optimizer(model, OptimConfig(lr=1e-3, min_lr=1e-4, warmup_steps=1), args.steps)
    start = 0
    checkpoint = latest_checkpoint(out)
    if checkpoint is not None:
        start = load_training_state(checkpoint, env, model, optimizer, scheduler).step
    model.train()
    for step in range(start, args.steps):
        batches = step_batches(processor, step)
        tokens = sum(label_tokens(b) for b in batches)
        mine = batches[env.rank :: env.world_size]
        loss_sum = 0.0
        for i, batch in enumerate(mine):
            with no_sync(model, skip=i < len(mine) - 1):
                logp, _ = token_logprobs(model, batch, chunk_size=16)
                (-logp.sum() * env.world_size / tokens).backward()
            loss_sum -= float(logp.detach().sum())
        clip_gradients(model, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss = all_reduce_sum(loss_sum, env) / tokens
        if env.is_main:
            with open(out / "losses.jsonl", "a") as f:
                f.write(json.dumps({"step": step + 1, "loss": loss}) + "\n")
        if step + 1 == args.save_at:
            save_training_state(out, step + 1, env, model, optimizer, scheduler)
        if step + 1 == args.stop_at:
            break
    shutdown(env)


if __name__ == "__main__":
    main()
