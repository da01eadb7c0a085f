"""The trainer at the paper's scale on one CUDA GPU, every figure written to disk as it is taken.

    set -o pipefail; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --out $OUT 2>&1 | tee $OUT/log
    python3 benchmarks/gpu_check.py --out $OUT --only-failed   # again: only the sections not ok in $OUT
    python3 benchmarks/gpu_check.py --cpu --out DIR             # every section, scaled down, on the CPU (the suite's run)

Runs under the machine's own `python3` (no venv; installs and downloads nothing): it needs torch, transformers
(>= 5.17) and numpy, plus the project's `model/` and `training_bridge/` code from this checkout. The
sections that read the bridge (`batches`) or build chat prompts (`rollouts`) also need PIL, pyarrow and
fsspec; without them they are recorded as skipped, and the SFT sections train on packed batches of the
bridge's measured shape instead (data wait then unmeasured). Sections, in order, each under its own time
budget inside `--budget-s` for the whole run (`benchmarks/check_sections.py`: full tracebacks, one JSON line
per measurement in `OUT/results.jsonl`, free memory printed between sections):

1. `env`: Python, torch, transformers, CUDA, the device and its free memory, the optional modules found;
2. `batches`: a local synthetic corpus read through the bridge (`BridgeLoader`, packed rows): samples,
   tokens and image slices per 8,192-token batch;
3. `plan`: the memory plans at those batch shapes (`training_bridge/train/memory_plan.py`): PT-1 and
   all-parameter SFT, and how many LLM layers the all-parameter run can hold on this device;
4. `resampler`: the resampler on the device (fp32 and bf16) against CPU float64;
5. `attention`: two LLM layers on one packed batch, dense `sdpa` (the `T x T` masked square) against
   `sdpa_packed` (each sample's own square): time, max difference, attention FLOPs dispatched (torch's
   counter) against those the MFU counts (each sample's causal half);
6. `sft_pt1`: PT-1 (resampler trains, 36 frozen LLM layers in bf16), fed by the bridge;
7. `rollouts`: RL rollouts batched across prompts (`batched_rollout.generate_groups`) against one prompt
   at a time;
8. `sft_all`: all-parameter SFT (fp32 masters, bf16 autocast, activation checkpointing) with the layers the
   plan fits, fewer after an out-of-memory error.
SFT sections report tokens/s, MFU against the device's dense bf16 peak, the data-wait fraction, the
forward / backward / optimizer split and peak memory beside the plan. The targets, PASS or FAIL:
PT-1 MFU >= 40%, all-parameter MFU >= 35%, data wait < 5%, batched rollouts >= 5x one at a time.
Exit status 0 when every section ended ok.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.check_sections import GIB, Sections  # noqa: E402

PEAK_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12, "H800": 989e12,
             "A100": 312e12, "L40S": 362e12, "B200": 2250e12}  # dense bf16 FLOP/s, by device name
TARGETS = {"sft_pt1": 0.40, "sft_all": 0.35}  # MFU
DATA_WAIT_TARGET, ROLLOUT_TARGET = 0.05, 5.0
IGNORE = -100  # `model.processor.IGNORE_INDEX` (that module needs PIL; the SFT sections must not)
REPORTED_MODULES = ("numpy", "PIL", "pyarrow", "fsspec", "triton", "flash_attn")  # found or not, in `env`


@dataclass(frozen=True)
class Scale:
    """How big each section runs: the published model on a GPU, the tiny one on the CPU (`--cpu`)."""

    preset: str  # model.config.CONFIGS key
    tokens: int  # token budget of a packed batch
    corpus_samples: int
    image_size: tuple[int, int]
    text_len: int
    workers: int  # loader workers, at most (CPUs - 2)
    shape_batches: int  # batches read to measure their shapes
    warmup_steps: int
    steps: int
    rollout: tuple[int, int, int]  # prompts, responses per prompt, new tokens
    # the bridge's batch shape when it cannot run here: sample lengths and slices of `slice_grid` patches per sample
    fallback_lengths: tuple[int, ...] = ()
    fallback_slices: int = 0
    slice_grid: tuple[int, int] = (28, 37)


# GPU fallback shape: one batch the bridge gave from this check's corpus (896 x 672 images: 5 slices of 28 x 37
# patches each; 11 samples, 8,073 tokens, 55 slices; other batches: 11-12 samples, 7,490-8,158 tokens, 55-60 slices)
GPU = Scale("full", 8192, 320, (896, 672), 600, 12, 6, 2, 8, (12, 8, 96),
            (957, 483, 408, 818, 651, 838, 897, 814, 825, 786, 596), 5, (28, 37))
# CPU: small enough for the suite (bf16 matmuls are emulated on most CPUs: a tiny-model step takes seconds)
CPU = Scale("tiny", 512, 16, (224, 168), 80, 1, 2, 1, 1, (3, 2, 4), (200, 170), 1, (16, 16))
BUDGETS_S = {"env": 60, "batches": 120, "plan": 60, "resampler": 60, "attention": 90, "sft_pt1": 180,
             "rollouts": 150, "sft_all": 240}


@dataclass
class Context:
    """What the sections share: the scale, the device, the LLM attention, a scratch folder, one cached model."""

    scale: Scale
    device: torch.device
    attention: str
    scratch: Path
    peak_tflops: float | None = None
    model_key: str | None = None
    model: Any = None

    def drop_model(self) -> None:
        self.model = self.model_key = None

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


def config_of(ctx: Context, layers: int | None = None):
    """The model configuration at this scale, with `layers` LLM layers and the chosen LLM attention."""
    from model.config import CONFIGS

    config = CONFIGS[ctx.scale.preset]()
    llm = dataclasses.replace(config.llm, attn_implementation=ctx.attention,
                              num_hidden_layers=layers or config.llm.num_hidden_layers)
    return dataclasses.replace(config, llm=llm)


def build(ctx: Context, key: str, layers: int | None, dtype: torch.dtype):
    """The model `key` (cached in `ctx` until another one is asked for), random weights, built on the device."""
    from model.minicpmv import MiniCPMV

    if ctx.model_key == key:
        return ctx.model
    ctx.drop_model()
    torch.manual_seed(0)
    t0, default = time.perf_counter(), torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(ctx.device):
            model = MiniCPMV(config_of(ctx, layers))
    finally:
        torch.set_default_dtype(default)
    print(f"   built {key}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters in {dtype}, "
          f"LLM attention {model.llm.config._attn_implementation} ({time.perf_counter() - t0:.1f} s)", flush=True)
    ctx.model_key, ctx.model = key, model
    return model


def peak_flops(ctx: Context) -> float | None:
    """The device's dense bf16 FLOP/s: `--peak-tflops`, else by device name; None on the CPU or when unknown."""
    if not ctx.cuda:
        return None
    if ctx.peak_tflops:
        return ctx.peak_tflops * 1e12
    name = torch.cuda.get_device_name(ctx.device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def verdict(value: float | None, target: float, higher: bool = True) -> str:
    if value is None:
        return "not measured"
    return "PASS" if (value >= target if higher else value < target) else "FAIL"


# -- env ---------------------------------------------------------------------------------------------------------
def env(s: Sections, ctx: Context) -> dict[str, Any]:
    import importlib.util

    import transformers

    figures: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                               "transformers": transformers.__version__, "cuda": torch.version.cuda,
                               "device": str(ctx.device), "attention": ctx.attention,
                               "modules": {m: importlib.util.find_spec(m) is not None for m in REPORTED_MODULES}}
    if ctx.cuda:
        free, total = torch.cuda.mem_get_info(ctx.device)
        figures.update(name=torch.cuda.get_device_name(ctx.device), free_gib=round(free / GIB, 2),
                       total_gib=round(total / GIB, 2), bf16_peak_tflops=(peak_flops(ctx) or 0) / 1e12)
    s.record("versions", **figures)
    return figures


# -- batches -----------------------------------------------------------------------------------------------------
def bridge(ctx: Context, corpus: Path, processor):
    """An endless iterator of packed batches from the bridge over the check's corpus."""
    from training_bridge.data.config import DataConfig
    from training_bridge.data.loader import BridgeLoader
    from training_bridge.data.packing import pack_collate
    from training_bridge.train.record_inputs import SftTransform

    pad = processor.tokenizer.pad_token_id
    workers = min(ctx.scale.workers, max(1, (os.cpu_count() or 2) - 2))  # leave two cores to the trainer
    data = DataConfig(corpora=[str(corpus)], weights=[1.0], max_tokens=ctx.scale.tokens, shuffle_buffer=16,
                      num_workers=workers, prefetch_factor=4)
    return iter(BridgeLoader(data, transform=SftTransform(processor), pad_id=pad,
                             collate=functools.partial(pack_collate, pad_token_id=pad)))


def processor_of(ctx: Context):
    from model.processor import MiniCPMVProcessor

    return MiniCPMVProcessor.from_config(config_of(ctx))


def corpus(ctx: Context) -> Path:
    """The check's local corpus (synthetic image samples, written through the project's sink), written once."""
    from training_bridge.data.synthetic import write_corpus

    path, scale = ctx.scratch / "corpus", ctx.scale
    if not path.is_dir():
        write_corpus(path, [scale.corpus_samples // 4] * 4, kind="image", size=scale.image_size,
                     text_len=scale.text_len)
    return path


def batches(s: Sections, ctx: Context) -> dict[str, Any]:
    t0 = time.perf_counter()
    path = corpus(ctx)
    s.record("corpus", samples=ctx.scale.corpus_samples, image_size=list(ctx.scale.image_size),
             seconds=round(time.perf_counter() - t0, 1))
    stream = bridge(ctx, path, processor_of(ctx))
    shapes = []
    for _ in range(ctx.scale.shape_batches):
        b = next(stream)
        lengths = b["sample_lengths"].tolist()
        shapes.append({"samples": len(lengths), "tokens": sum(lengths), "slices": int(b["tgt_sizes"].shape[0]),
                       "lengths": lengths, "slice_grid": b["tgt_sizes"][0].tolist() if len(b["tgt_sizes"]) else None})
        s.record("batch", **shapes[-1])
    del stream
    widest = max(shapes, key=lambda x: x["slices"])
    return {"slices_max": widest["slices"],
            "slices_mean": round(sum(x["slices"] for x in shapes) / len(shapes), 1),
            "samples_mean": round(sum(x["samples"] for x in shapes) / len(shapes), 1),
            "tokens_mean": round(sum(x["tokens"] for x in shapes) / len(shapes)),
            "lengths": max(shapes, key=lambda x: x["tokens"])["lengths"]}


def batch_shape(s: Sections, ctx: Context) -> tuple[list[int], int, str]:
    """`(sample lengths, slices per batch, source)`: the bridge's measured shape, or the scale's fallback."""
    measured = s.done("batches")
    if measured:
        return measured["lengths"], measured["slices_max"], "measured"
    return list(ctx.scale.fallback_lengths), ctx.scale.fallback_slices * len(ctx.scale.fallback_lengths), "fallback"


def synthetic_batches(ctx: Context, config):
    """Endless packed batches of the bridge's fallback shape (random ids and pixels; same tensors and layout as
    `pack_collate`'s: one row, position ids restarting per sample, each slice a `query_num`-token block)."""
    scale, q = ctx.scale, config.query_num
    h, w = scale.slice_grid
    unk = config.special_tokens["<unk>"]
    gen = torch.Generator().manual_seed(0)
    while True:
        ids, labels, positions, bounds, offset = [], [], [], [], 0
        for n in scale.fallback_lengths:
            sample = torch.randint(0, 256, (n,), generator=gen)
            lab = sample.clone()
            for k in range(scale.fallback_slices):
                a = 4 + k * (q + 2)
                sample[a : a + q] = unk
                lab[a : a + q] = IGNORE
                bounds.append([offset + a, offset + a + q])
            lab[0] = IGNORE
            ids.append(sample), labels.append(lab), positions.append(torch.arange(n))
            offset += n
        slices = scale.fallback_slices * len(scale.fallback_lengths)
        yield {"input_ids": torch.cat(ids)[None], "labels": torch.cat(labels)[None],
               "position_ids": torch.cat(positions)[None], "attention_mask": None,
               "sample_lengths": torch.tensor(scale.fallback_lengths),
               "pixel_values": [torch.randn(3, 14, h * w * 14, generator=gen) for _ in range(slices)],
               "tgt_sizes": torch.tensor([[h, w]] * slices), "image_bound": [torch.tensor(bounds)],
               "temporal_ids": [[-1]] * slices}


# -- plan --------------------------------------------------------------------------------------------------------
def plan_input(ctx: Context, stage: str, layers: int | None, slices: int, checkpointing: bool):
    from training_bridge.train.memory_plan import PlanInput

    gpu_gib = torch.cuda.get_device_properties(ctx.device).total_memory / GIB if ctx.cuda else 0.0
    return PlanInput(config_of(ctx, layers), stage, 1, "none", True, ctx.scale.tokens, slices, checkpointing,
                     gpu_gib=gpu_gib, gpu_name=torch.cuda.get_device_name(ctx.device) if ctx.cuda else "CPU")


def plan(s: Sections, ctx: Context) -> dict[str, Any]:
    from training_bridge.train.memory_plan import plan_memory

    lengths, slices, source = batch_shape(s, ctx)
    full_layers = config_of(ctx).llm.num_hidden_layers
    pt1 = plan_memory(plan_input(ctx, "resampler", None, slices, False))
    print(f"-- PT-1 at {slices} slices per batch ({source} shape)\n{pt1.table()}")
    low, high = 1, full_layers  # the most layers that fit (at least one): the plan grows with the layers
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if plan_memory(plan_input(ctx, "all", mid, slices, True)).fits else (low, mid - 1)
    layers = low
    every = plan_memory(plan_input(ctx, "all", layers, slices, True))
    print(f"-- all parameters, {layers} of {full_layers} LLM layers (the most that fit)\n{every.table()}")
    figures = {"slices": slices, "shape": source, "layers": layers, "pt1_plan_gib": round(pt1.total / GIB, 2),
               "all_plan_gib": round(every.total / GIB, 2), "pt1_fits": pt1.fits}
    for name, p in (("pt1", pt1), ("all", every)):
        s.record(f"plan {name}", **{k: round(getattr(p, k) / GIB, 2) for k in (
            "parameters", "gradients", "optimizer", "weight_copies", "activations", "transient", "total")})
    return figures


# -- resampler ---------------------------------------------------------------------------------------------------
def resampler(s: Sections, ctx: Context) -> dict[str, Any]:
    from model.resampler import Resampler

    c = config_of(ctx)
    side = c.slicing.scale_resolution // c.slicing.patch_size
    torch.manual_seed(0)
    ref = Resampler(c.query_num, c.llm.hidden_size, c.resampler_heads, c.vision.hidden_size).double()
    x = torch.randn(4, side * side, c.vision.hidden_size, dtype=torch.float64)
    sizes, ids = torch.tensor([[side, side]] * 3 + [[side // 2, side * 2]]), [[-1]] * 4
    figures = {}
    with torch.no_grad():
        want = ref(x, sizes, ids)
        dev = Resampler(c.query_num, c.llm.hidden_size, c.resampler_heads, c.vision.hidden_size).to(ctx.device)
        dev.load_state_dict({k: t.float() for k, t in ref.state_dict().items()})
        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            got = dev.to(dtype)(x.to(ctx.device, dtype), sizes.to(ctx.device), ids).double().cpu()
            figures[f"{label}_rel_err"] = (got - want).abs().max().item() / want.abs().max().item()
    s.record("device vs CPU float64", **figures)
    return figures


# -- attention ---------------------------------------------------------------------------------------------------
def useful_attention_flops(config, lengths: list[int], layers: int) -> float:
    """Forward attention FLOPs a packed batch needs (what the MFU counts): each sample's causal half."""
    q = config.llm.num_attention_heads * config.llm.head_dim
    return layers * 2 * q * sum(n * n for n in lengths)


def attention(s: Sections, ctx: Context) -> dict[str, Any]:
    from transformers import Qwen3Model

    from model.packed_attention import attention_flop_counter, sample_bounds, sdpa_flops

    lengths, _, source = batch_shape(s, ctx)
    layers = 2
    config = config_of(ctx, layers)
    dtype = torch.bfloat16 if ctx.cuda else torch.float32
    positions = torch.cat([torch.arange(n) for n in lengths])[None].to(ctx.device)
    x = torch.randn(1, sum(lengths), config.llm.hidden_size, device=ctx.device, dtype=dtype)
    figures: dict[str, Any] = {"tokens": sum(lengths), "samples": len(lengths), "shape": source, "layers": layers}
    outs = {}
    for impl in ("sdpa", "sdpa_packed"):
        torch.manual_seed(0)
        hf = dataclasses.replace(config.llm, attn_implementation=impl).to_hf()
        with torch.device(ctx.device):
            model = Qwen3Model(hf).to(dtype)
        extra = sample_bounds(positions) if impl == "sdpa_packed" else {}

        def step() -> torch.Tensor:
            inp = x.detach().requires_grad_()
            out = model(inputs_embeds=inp, position_ids=positions, use_cache=False, **extra).last_hidden_state
            out.float().square().mean().backward()
            return out.detach()

        outs[impl] = step()
        ctx.sync()
        t0 = time.perf_counter()
        for _ in range(3):
            step()
        ctx.sync()
        ms = (time.perf_counter() - t0) / 3 * 1e3
        with attention_flop_counter() as counter:
            step()
        figures[f"{impl}_ms"] = round(ms, 2)
        figures[f"{impl}_tflop"] = sdpa_flops(counter) / 1e12  # forward + backward, every layer
        s.record(impl, ms_forward_backward=round(ms, 2), sdpa_tflop=figures[f"{impl}_tflop"])
        del model
    useful = 3 * useful_attention_flops(config, lengths, layers) / 1e12  # forward + backward (2x)
    figures["useful_tflop"] = useful
    figures["speedup"] = round(figures["sdpa_ms"] / figures["sdpa_packed_ms"], 2)
    ref = outs["sdpa"].float()
    figures["max_rel_diff"] = ((outs["sdpa_packed"].float() - ref).abs().max() / ref.abs().max()).item()
    print(f"   attention FLOPs, {layers} layers, forward + backward: dense sdpa {figures['sdpa_tflop']:.3g} TFLOP, "
          f"sdpa_packed {figures['sdpa_packed_tflop']:.3g} (SDPA calls' full squares), counted in the MFU "
          f"{useful:.3g} (causal halves); sdpa_packed {figures['speedup']}x faster, max rel. difference "
          f"{figures['max_rel_diff']:.2e}")
    return figures


# -- SFT ---------------------------------------------------------------------------------------------------------
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


# -- rollouts ----------------------------------------------------------------------------------------------------
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


SECTIONS = [("env", env), ("batches", batches), ("plan", plan), ("resampler", resampler), ("attention", attention),
            ("sft_pt1", sft_pt1), ("rollouts", rollouts), ("sft_all", sft_all)]


def targets(s: Sections) -> dict[str, str]:
    """Every target with its figure and PASS / FAIL (or why it is missing), printed."""
    def row(section: str, key: str, verdict_key: str, shown: str) -> tuple[str, str]:
        done = s.done(section)
        if not done or done.get(key) is None:
            return "", done.get(verdict_key, "not measured") if done else "not measured (section not ok)"
        return shown.format(done[key]), done[verdict_key]

    rows = {
        "PT-1 MFU >= 40%": row("sft_pt1", "mfu", "mfu_verdict", "{:.1%}"),
        "all-parameter MFU >= 35%": row("sft_all", "mfu", "mfu_verdict", "{:.1%}"),
        "data wait < 5% (PT-1)": row("sft_pt1", "data_wait", "data_wait_verdict", "{:.1%}"),
        "data wait < 5% (all parameters)": row("sft_all", "data_wait", "data_wait_verdict", "{:.1%}"),
        "batched rollouts >= 5x one at a time": row("rollouts", "ratio", "verdict", "{:.1f}x"),
    }
    print("\n== targets")
    for name, (shown, result) in rows.items():
        print(f"   {name:<38} {shown:>7}  {result}")
    return {name: result for name, (_, result) in rows.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="results folder (results.jsonl is appended to)")
    parser.add_argument("--cpu", action="store_true", help="every section on the CPU with the tiny model")
    parser.add_argument("--only-failed", action="store_true", help="run only the sections not ok in --out already")
    parser.add_argument("--sections", help=f"comma-separated subset of {', '.join(n for n, _ in SECTIONS)}")
    parser.add_argument("--attention", default="sdpa_packed", choices=["sdpa_packed", "sdpa", "flash_attention_2"],
                        help="the LLM's attention in the model sections (default: skips the masked blocks)")
    parser.add_argument("--budget-s", type=float, default=570.0, help="time for the whole run (default 9.5 min)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, when its name is not known")
    args = parser.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --cpu for the scaled-down check")
    device = torch.device("cpu" if args.cpu else "cuda")
    chosen = set(args.sections.split(",")) if args.sections else None
    sections = Sections(args.out, device, args.budget_s, args.only_failed, chosen)
    print(f"gpu_check: torch {torch.__version__}, python {platform.python_version()}, "
          f"{'CPU (scaled down)' if args.cpu else torch.cuda.get_device_name(device)}; results: {sections.path}",
          flush=True)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        ctx = Context(CPU if args.cpu else GPU, device, args.attention, Path(tmp), args.peak_tflops)
        for name, fn in SECTIONS:
            if name == "sft_all" and ctx.model_key == "full bf16":
                ctx.drop_model()  # the full bf16 model makes room before the fp32 one is built
            sections.run(name, BUDGETS_S[name], fn, ctx)
        ctx.drop_model()
    results = targets(sections)
    sections.section = "targets"
    sections.record("verdicts", **results)
    failed = sections.failed
    print(f"\n{len(sections.summaries)} sections run, {'none failed' if not failed else 'not ok: ' + ', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
