"""Section `rollouts`: RL rollouts batched across prompts (`batched_rollout.generate_groups`) against one prompt
at a time."""
from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.check_sections import Sections
from benchmarks.gpu_sections.batches import processor_of
from benchmarks.gpu_sections.context import ROLLOUT_TARGET, Context, build, verdict


def rollouts(s: Sections, ctx: Context) -> dict[str, Any]:
    from PIL import Image

    from training_bridge.rl.batched_rollout import generate_groups

    processor = processor_of(ctx)
    n_prompts, group, new = ctx.scale.rollout
    prompts = []
    for i in range(n_prompts):
        img = Image.new("RGB", (448 + 32 * (i % 4), 448), ((40 * i) % 256, 120, 200))
        msgs = [{"role": "user", "content": ("<image>\n" if i % 2 == 0 else "") + f"Question {i}: what is shown?"}]
        prompts.append(processor(msgs, [img] if i % 2 == 0 else [], [], add_generation_prompt=True, thinking=i % 3 == 0))
    model = build(ctx, "full bf16", None, torch.bfloat16)
    model.eval()
    precision = "bf16"
    generate_groups(model, processor, prompts[:2], 2, 4, 1.0, [0, 1], ctx.device, precision)  # warm-up
    rates = {}
    for label, runs in (("batched", [prompts]), ("one_at_a_time", [[p] for p in prompts])):
        ctx.sync()
        t0, tokens = time.perf_counter(), 0
        for k, batch in enumerate(runs):
            groups = generate_groups(model, processor, batch, group, new, 1.0, list(range(k, k + len(batch))),
                                     ctx.device, precision)
            tokens += sum(len(ids) for g in groups for ids, _ in g)
        ctx.sync()
        seconds = time.perf_counter() - t0
        rates[label] = tokens / seconds
        s.record(label, tokens=tokens, seconds=round(seconds, 2), tokens_per_s=round(rates[label], 1))
    ratio = rates["batched"] / rates["one_at_a_time"]
    print(f"   batched / one at a time: {ratio:.1f}x (target >= {ROLLOUT_TARGET:g}x): {verdict(ratio, ROLLOUT_TARGET)}")
    return {"prompts": n_prompts, "group": group, "new_tokens": new, **{f"{k}_tokens_per_s": round(v, 1)
            for k, v in rates.items()}, "ratio": round(ratio, 2), "verdict": verdict(ratio, ROLLOUT_TARGET)}
