"""Sections `sft_pt1` and `sft_all`: measured training steps (tokens/s, MFU, data wait, time split, peak memory
beside the plan), fed by the bridge or by synthetic batches of its shape, retried smaller after out-of-memory."""
from __future__ import annotations

import time
from typing import Any

import torch

from benchmarks.check_sections import GIB, Sections
from benchmarks.gpu_sections.attention import useful_attention_flops
from benchmarks.gpu_sections.batches import bridge, corpus, processor_of, synthetic_batches
from benchmarks.gpu_sections.context import DATA_WAIT_TARGET, IGNORE, TARGETS, Context, build, peak_flops, verdict
from benchmarks.gpu_sections.plan import plan_input


def step_flops(config, lengths: list[int], label_tokens: int, patches: int, stage: str) -> float:
    """Model FLOPs of one step: 2 per MAC forward; backward 2x forward where weights train, 1x where only
    inputs need gradients (a frozen LLM under PT-1), none for a frozen vision encoder (PT-1); attention as each
    sample's causal half; activation checkpointing's recomputation not counted."""
    llm, v = config.llm, config.vision
    q, kv = llm.num_attention_heads * llm.head_dim, llm.num_key_value_heads * llm.head_dim
    layer = 2 * llm.hidden_size * (q + kv) + 3 * llm.hidden_size * llm.intermediate_size
    llm_fwd = llm.num_hidden_layers * 2 * layer * sum(lengths) + useful_attention_flops(config, lengths,
                                                                                        llm.num_hidden_layers)
    head_fwd = 2 * llm.hidden_size * llm.vocab_size * label_tokens
    vis_fwd = v.num_hidden_layers * 2 * (4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size) * patches
    res_fwd = 2 * (v.hidden_size * llm.hidden_size + 2 * llm.hidden_size**2) * patches
    if stage == "resampler":
        return 2 * (llm_fwd + head_fwd) + vis_fwd + 3 * res_fwd
    return 3 * (llm_fwd + head_fwd + vis_fwd + res_fwd)


def batch_source(s: Sections, ctx: Context, config):
    """`(iterator, source name)`: the bridge over the check's corpus once the `batches` section has read it
    (in this run or an earlier one), else synthetic batches of the fallback shape."""
    if s.done("batches"):
        return bridge(ctx, corpus(ctx), processor_of(ctx)), "bridge"
    print("   the bridge did not run (section batches): synthetic batches of the fallback shape", flush=True)
    return synthetic_batches(ctx, config), "synthetic"


def logprob_loss(model, batch: dict[str, Any]) -> torch.Tensor:
    """The SFT loss of a packed batch as `token_logprobs.token_logprobs` computes it (mean over labelled tokens)."""
    labels = batch["labels"]
    targets = torch.full_like(labels, IGNORE)
    targets[:, :-1] = labels[:, 1:]
    logp = model(input_ids=batch["input_ids"], attention_mask=None, pixel_values=batch["pixel_values"],
                 tgt_sizes=batch["tgt_sizes"], image_bound=batch["image_bound"], temporal_ids=batch["temporal_ids"],
                 logprob_targets=targets, position_ids=batch["position_ids"])
    return -logp.sum() / max(int((targets != IGNORE).sum()), 1)


def train_steps(s: Sections, ctx: Context, model, stage: str, checkpointing: bool) -> dict[str, Any]:
    """Warm-up and measured steps of `stage` on the bridge's (or synthetic) batches; the step figures."""
    from training_bridge.train.batch_device import to_device
    from training_bridge.train.memory_plan import plan_memory
    from training_bridge.train.optim import build_optimizer, clip_gradients
    from training_bridge.train.train_config import OptimConfig

    scale = ctx.scale
    optimizer, _ = build_optimizer(model, OptimConfig(lr=1e-5, schedule="constant"), scale.steps + scale.warmup_steps)
    batches, source = batch_source(s, ctx, model.config)
    model.train()
    totals = dict.fromkeys(("wait", "forward", "backward", "optimizer"), 0.0)
    tokens = steps = 0
    flops = useful_attn = 0.0
    slices_seen = 0
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats(ctx.device)
    try:
        for step in range(scale.warmup_steps + scale.steps):
            if step > scale.warmup_steps and s.seconds_left() < 3 * (sum(totals.values()) / max(steps, 1)) + 10:
                print("   stopping early: the section's budget is nearly spent", flush=True)
                break
            t0 = time.perf_counter()
            batch = next(batches)
            t1 = time.perf_counter()
            dev = to_device(batch, ctx.device)
            with torch.autocast(ctx.device.type, dtype=torch.bfloat16):
                loss = logprob_loss(model, dev)
            ctx.sync()
            t2 = time.perf_counter()
            loss.backward()
            loss = loss.detach()
            ctx.sync()
            t3 = time.perf_counter()
            clip_gradients(model, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            ctx.sync()
            t4 = time.perf_counter()
            lengths = batch["sample_lengths"].tolist()
            s.record("step", step=step, warmup=step < scale.warmup_steps, source=source, tokens=sum(lengths),
                     slices=int(batch["tgt_sizes"].shape[0]), loss=round(loss.item(), 4), wait_ms=round((t1 - t0) * 1e3, 1),
                     forward_ms=round((t2 - t1) * 1e3, 1), backward_ms=round((t3 - t2) * 1e3, 1),
                     optimizer_ms=round((t4 - t3) * 1e3, 1))
            if step < scale.warmup_steps:
                continue
            for k, v in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                totals[k] += v
            steps += 1
            tokens += sum(lengths)
            slices_seen = max(slices_seen, int(batch["tgt_sizes"].shape[0]))
            patches = int(sum(int(h) * int(w) for h, w in batch["tgt_sizes"].tolist()))
            labels = int((batch["labels"][:, 1:] != IGNORE).sum())
            flops += step_flops(model.config, lengths, labels, patches, stage)
            useful_attn += useful_attention_flops(model.config, lengths, model.config.llm.num_hidden_layers)
    finally:
        del batches
    if not steps:
        raise RuntimeError("no measured step fitted in the section's budget")
    busy = totals["forward"] + totals["backward"] + totals["optimizer"]
    peak = peak_flops(ctx)
    mfu = flops / busy / peak if peak else None
    wait = totals["wait"] / (totals["wait"] + busy)
    p = plan_memory(plan_input(ctx, stage, model.config.llm.num_hidden_layers, slices_seen, checkpointing))
    peak_gib = torch.cuda.max_memory_allocated(ctx.device) / GIB if ctx.cuda else None
    figures = {"stage": stage, "layers": model.config.llm.num_hidden_layers, "batches": source, "steps": steps,
               "tokens_per_s": round(tokens / (busy + totals["wait"]), 1), "mfu": mfu,
               "mfu_verdict": verdict(mfu, TARGETS["sft_pt1" if stage == "resampler" else "sft_all"]),
               "data_wait": round(wait, 4) if source == "bridge" else None,
               "data_wait_verdict": verdict(wait if source == "bridge" else None, DATA_WAIT_TARGET, higher=False),
               **{f"{k}_ms": round(v / steps * 1e3, 1) for k, v in totals.items()},
               "peak_gib": round(peak_gib, 2) if peak_gib is not None else None, "plan_gib": round(p.total / GIB, 2),
               "attention_useful_tflop_per_step": round(useful_attn / steps / 1e12, 3)}
    print(f"   {figures['tokens_per_s']:,.0f} tokens/s over {steps} steps ({source} batches); per step: wait "
          f"{figures['wait_ms']} ms, forward {figures['forward_ms']}, backward {figures['backward_ms']}, optimizer "
          f"{figures['optimizer_ms']}")
    print(f"   MFU {'n/a (no known bf16 peak)' if mfu is None else f'{mfu:.1%}'}: {figures['mfu_verdict']}; data wait "
          f"{'n/a' if figures['data_wait'] is None else f'{wait:.1%}'}: {figures['data_wait_verdict']}")
    print(f"   peak memory {'n/a (CPU)' if peak_gib is None else f'{peak_gib:.1f} GiB'}; plan {p.total / GIB:.1f} GiB "
          f"at {slices_seen} slices")
    return figures


def sft_pt1(s: Sections, ctx: Context) -> dict[str, Any]:
    """PT-1: the resampler trains in fp32, everything else frozen in bf16 (as `sft.py` casts it); after an
    out-of-memory error, once more with the LLM's layers recomputed in backward."""
    from model.transformers_compat import enable_activation_checkpointing
    from training_bridge.train.freezing import freeze_for_stage

    for checkpointing in (False, True):
        model = build(ctx, "full bf16", None, torch.bfloat16)
        model.resampler.float()
        freeze_for_stage(model, "resampler")
        if checkpointing:
            enable_activation_checkpointing(model.llm)
        result = _try_steps(s, ctx, model, "resampler", checkpointing)
        if isinstance(result, dict):
            return result
        del model
        _after_oom(s, ctx, result, checkpointing=checkpointing)
    raise RuntimeError("PT-1 ran out of memory with and without activation checkpointing")


def sft_all(s: Sections, ctx: Context) -> dict[str, Any]:
    """All parameters with the plan's layer count (2 without a plan); after an out-of-memory error, three
    quarters of the layers, down to one."""
    from model.transformers_compat import enable_activation_checkpointing

    planned = s.done("plan")
    layers = planned["layers"] if planned else 2
    while True:
        model = build(ctx, f"{layers} layers fp32", layers, torch.float32)
        for part in (model.llm, model.vpm):
            enable_activation_checkpointing(part)
        result = _try_steps(s, ctx, model, "all", True)
        if isinstance(result, dict):
            return {**result, "planned_layers": planned["layers"] if planned else None}
        del model
        _after_oom(s, ctx, result, layers=layers, checkpointing=True)
        if layers == 1:
            raise RuntimeError("all-parameter SFT ran out of memory with one LLM layer")
        layers = max(1, layers * 3 // 4)


def _try_steps(s: Sections, ctx: Context, model, stage: str, checkpointing: bool) -> dict[str, Any] | str:
    """`train_steps`' figures, or the first line of the out-of-memory error it ran into."""
    try:
        return train_steps(s, ctx, model, stage, checkpointing)
    except torch.cuda.OutOfMemoryError as exc:
        return str(exc).splitlines()[0]


def _after_oom(s: Sections, ctx: Context, error: str, **what: Any) -> None:
    """Record an out-of-memory error with the peak reached, and free the model and the cache."""
    peak = torch.cuda.max_memory_allocated(ctx.device) / GIB if ctx.cuda else 0.0
    s.record("out of memory", **what, peak_gib=round(peak, 2), error=error)
    ctx.drop_model()
    s.free()
