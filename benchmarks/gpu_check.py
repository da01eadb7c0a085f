"""The trainer at the paper's scale on one CUDA GPU, in one command (installs nothing, downloads nothing):

    .venv/bin/python benchmarks/gpu_check.py [--quick]

Builds the full MiniCPM-V 4.5 configuration (8.7B) with random weights on the GPU and reports:
1. the resampler's output on the GPU (fp32 and bf16) against CPU float64;
2. RL rollouts: generated tokens/s batched across prompts (`batched_rollout.generate_groups`) vs one
   prompt at a time (target >= 5x);
3. SFT PT-1 (resampler only, all 36 LLM layers) and all-parameter SFT with as many LLM layers as the memory
   plan fits on this GPU (activation checkpointing on): tokens/s, MFU against the GPU's dense bf16 peak
   (targets >= 40% and >= 35%), peak memory beside the plan, and the data-wait fraction with batches fed by
   the bridge (`BridgeLoader`, packed) from a local synthetic corpus (target < 5%).
Each section reports its own error and the next one runs. Without CUDA it prints the memory plans and exits 0.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import full  # noqa: E402
from model.minicpmv import MiniCPMV, count_parameters  # noqa: E402
from model.processor import MiniCPMVProcessor  # noqa: E402
from model.resampler import Resampler  # noqa: E402
from training_bridge.rl.batched_rollout import generate_groups  # noqa: E402
from training_bridge.train.memory_plan import GIB, PlanInput, plan_memory  # noqa: E402

PEAK_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "H800": 989e12, "A100": 312e12, "L40S": 362e12,
             "B200": 2250e12}  # dense bf16 FLOP/s
TOKENS = 8192  # token budget of an SFT micro-batch (the paper's packing length)


def section(name: str):
    """Run the decorated section; print its error and carry on when it fails."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            print(f"\n== {name}", flush=True)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - report and go on to the next section
                traceback.print_exc(limit=6, file=sys.stdout)
                return None
            finally:
                print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
        return run
    return wrap


def plans(gpu_gib: float, name: str) -> int:
    """Print the plans of the runs this check makes (and of the paper's 8-GPU SFT); the LLM layers that fit."""
    config = full()
    for title, p in [
        ("PT-1, one GPU", PlanInput(config, "resampler", 1, "none", True, TOKENS, gpu_gib=gpu_gib, gpu_name=name)),
        ("all parameters, one GPU", PlanInput(config, "all", 1, "none", True, TOKENS, gpu_gib=gpu_gib, gpu_name=name)),
        ("all parameters, FSDP over 8, checkpointing", PlanInput(config, "all", 8, "fsdp", True, TOKENS, -1, True,
                                                                 gpu_gib=gpu_gib, gpu_name=name)),
    ]:
        plan = plan_memory(p)
        print(f"-- {title}\n{plan.table()}")
    layers = fitting_layers(gpu_gib, name)
    print(f"-- all parameters on one {name}-{gpu_gib:g}GB with checkpointing: {layers} of 36 LLM layers fit")
    return layers


def _with_layers(config, layers: int):
    return dataclasses.replace(config, llm=dataclasses.replace(config.llm, num_hidden_layers=layers))


def fitting_layers(gpu_gib: float, name: str) -> int:
    for layers in range(36, 0, -1):
        p = PlanInput(_with_layers(full(), layers), "all", 1, "none", True, TOKENS, -1, True, gpu_gib=gpu_gib, gpu_name=name)
        if plan_memory(p).fits:
            return layers
    return 1


def peak_flops(name: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def step_flops(config, tokens: int, lengths: list[int], label_tokens: int, patches: int, stage: str) -> float:
    """Model FLOPs of one step: 2 per MAC forward; backward 2x forward where weights train, 1x where only
    inputs need gradients (a frozen LLM under PT-1), none for a frozen vision encoder (PT-1)."""
    llm, v = config.llm, config.vision
    q, kv = llm.num_attention_heads * llm.head_dim, llm.num_key_value_heads * llm.head_dim
    layer = 2 * llm.hidden_size * (q + kv) + 3 * llm.hidden_size * llm.intermediate_size
    llm_fwd = llm.num_hidden_layers * (2 * layer * tokens + 2 * q * sum(n * n for n in lengths))
    head_fwd = 2 * llm.hidden_size * llm.vocab_size * label_tokens
    vis_fwd = v.num_hidden_layers * 2 * (4 * v.hidden_size**2 + 2 * v.hidden_size * v.intermediate_size) * patches
    res_fwd = 2 * (v.hidden_size * llm.hidden_size + 2 * llm.hidden_size**2) * patches
    if stage == "resampler":
        return 2 * (llm_fwd + head_fwd) + vis_fwd + 3 * res_fwd
    return 3 * (llm_fwd + head_fwd + vis_fwd + res_fwd)


@section("resampler on GPU vs CPU float64")
def resampler_check(device: torch.device) -> None:
    c = full()
    torch.manual_seed(0)
    ref = Resampler(c.query_num, c.llm.hidden_size, c.resampler_heads, c.vision.hidden_size).double()
    x = torch.randn(4, 1024, c.vision.hidden_size, dtype=torch.float64)
    sizes, ids = torch.tensor([[32, 32]] * 3 + [[16, 64]]), [[-1]] * 4
    with torch.no_grad():
        want = ref(x, sizes, ids)
        gpu = Resampler(c.query_num, c.llm.hidden_size, c.resampler_heads, c.vision.hidden_size).to(device)
        gpu.load_state_dict({k: t.float() for k, t in ref.state_dict().items()})
        for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            got = gpu.to(dtype)(x.to(device, dtype), sizes.to(device), ids).double().cpu()
            err = (got - want).abs().max().item() / want.abs().max().item()
            print(f"   {label}: max |GPU - CPU float64| / max |CPU| = {err:.2e}")


def _prompts(processor: MiniCPMVProcessor, n: int) -> list:
    from PIL import Image

    out = []
    for i in range(n):
        img = Image.new("RGB", (448 + 32 * (i % 4), 448), ((40 * i) % 256, 120, 200))
        msgs = [{"role": "user", "content": ("<image>\n" if i % 2 == 0 else "") + f"Question {i}: what is shown?"}]
        out.append(processor(msgs, [img] if i % 2 == 0 else [], [], add_generation_prompt=True, thinking=i % 3 == 0))
    return out


@section("RL rollouts: batched vs one prompt at a time")
def rollout_check(model: MiniCPMV, processor: MiniCPMVProcessor, device: torch.device, quick: bool) -> None:
    n_prompts, group, new = (8, 4, 64) if quick else (16, 8, 128)
    prompts = _prompts(processor, n_prompts)
    model.eval()
    generate_groups(model, processor, prompts[:2], 2, 8, 1.0, [0, 1], device, "bf16")  # warm-up
    rates = {}
    for label, batches in (("batched", [prompts]), ("one at a time", [[p] for p in prompts])):
        torch.cuda.synchronize()
        t0, tokens = time.perf_counter(), 0
        for k, batch in enumerate(batches):
            groups = generate_groups(model, processor, batch, group, new, 1.0, list(range(k, k + len(batch))),
                                     device, "bf16")
            tokens += sum(len(ids) for g in groups for ids, _ in g)
        torch.cuda.synchronize()
        rates[label] = tokens / (time.perf_counter() - t0)
        print(f"   {label}: {tokens} tokens, {rates[label]:,.0f} tokens/s")
    print(f"   batched / one at a time: {rates['batched'] / rates['one at a time']:.1f}x (target >= 5x)")


def corpus(out: Path, samples: int) -> Path:
    from training_bridge.data.synthetic import write_corpus

    write_corpus(out, [samples // 4] * 4, kind="image", size=(896, 672), text_len=600)
    return out


@section("SFT")
def sft_check(model: MiniCPMV, processor: MiniCPMVProcessor, device: torch.device, stage: str, data: Path,
              steps: int, gpu_gib: float, name: str, checkpointing: bool) -> None:
    from training_bridge.data.loader import BridgeLoader, LoaderConfig
    from training_bridge.data.mixing import Source
    from training_bridge.data.packing import pack_collate
    from training_bridge.data.stream import StreamConfig
    from training_bridge.train.freezing import freeze_for_stage
    from training_bridge.train.model_io import SftTransform, label_tokens, to_device, token_logprobs
    from training_bridge.train.optim import build_optimizer, clip_gradients
    from training_bridge.train.train_config import OptimConfig

    counts = freeze_for_stage(model, stage)
    layers = model.config.llm.num_hidden_layers
    print(f"   stage {stage}, {layers} LLM layers, trainable {sum(counts.values()) / 1e9:.2f}B of "
          f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters, bf16 autocast, fp32 masters")
    optimizer, _ = build_optimizer(model, OptimConfig(lr=1e-5, schedule="constant"), steps)
    pad = processor.tokenizer.pad_token_id
    loader = BridgeLoader(StreamConfig([Source(str(data), 1.0)], max_tokens=TOKENS, pad_id=pad, shuffle_buffer=16),
                          LoaderConfig(num_workers=6, prefetch_factor=4), transform=SftTransform(processor),
                          collate=functools.partial(pack_collate, pad_token_id=pad))
    batches = iter(loader)
    model.train()
    wait = busy = flops = 0.0
    tokens = 0
    torch.cuda.reset_peak_memory_stats(device)
    for step in range(steps + 2):  # two warm-up steps
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logp, _ = token_logprobs(model, to_device(batch, device))
        (-logp.sum() / max(label_tokens(batch), 1)).backward()
        clip_gradients(model, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        if step >= 2:
            wait, busy = wait + t1 - t0, busy + t2 - t1
            patches = int(sum(int(h) * int(w) for h, w in batch["tgt_sizes"].tolist()))
            lengths = batch["sample_lengths"].tolist()
            tokens += sum(lengths)
            flops += step_flops(model.config, sum(lengths), lengths, label_tokens(batch), patches, stage)
    total = wait + busy
    peak = peak_flops(name)
    mfu = f"{flops / busy / peak:.1%}" if peak else "n/a (unknown GPU peak)"
    plan = plan_memory(PlanInput(model.config, stage, 1, "none", True, TOKENS, -1,
                                 checkpointing, gpu_gib=gpu_gib, gpu_name=name))
    print(f"   {tokens / total:,.0f} tokens/s end to end ({tokens / busy:,.0f} computing), MFU {mfu}, "
          f"data-wait fraction {wait / total:.3f} over {steps} steps")
    print(f"   peak memory {torch.cuda.max_memory_allocated(device) / GIB:.1f} GiB; plan {plan.total / GIB:.1f} GiB")


def attention() -> str:
    """FlashAttention-2 when installed: varlen over packed samples (position ids). SDPA otherwise: a
    block-causal mask, so a packed row's attention costs its full square (the waste shows in the MFU)."""
    import importlib.util

    return "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"


def build_full(device: torch.device, layers: int | None = None) -> MiniCPMV:
    config = full() if layers is None else _with_layers(full(), layers)
    config = dataclasses.replace(config, llm=dataclasses.replace(config.llm, attn_implementation=attention()))
    print(f"   LLM attention: {config.llm.attn_implementation}")
    torch.manual_seed(0)
    with torch.device(device):
        model = MiniCPMV(config)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer prompts, tokens and steps (about half the time)")
    parser.add_argument("--gpu-gib", type=float, default=80.0, help="GPU memory to plan for without CUDA")
    args = parser.parse_args()
    print(f"full configuration: {count_parameters(full())['total'] / 1e9:.2f}B parameters; torch {torch.__version__}")
    if not torch.cuda.is_available():
        print("no CUDA device: printing the memory plans only (GPU figures unmeasured)")
        plans(args.gpu_gib, "H100")
        return 0
    device = torch.device("cuda")
    props = torch.cuda.get_device_properties(device)
    name, gpu_gib = props.name.replace("NVIDIA ", ""), props.total_memory / GIB
    print(f"device: {props.name}, {gpu_gib:.0f} GiB, bf16 peak {peak_flops(name) or 0:.3g} FLOP/s")
    try:
        import vllm  # noqa: F401
        print(f"vllm {vllm.__version__} importable: rollout.engine vllm is available")
    except Exception as exc:  # noqa: BLE001
        print(f"vllm not importable ({type(exc).__name__}): rollout.engine hf only")
    layers = plans(gpu_gib, name)
    resampler_check(device)
    steps = 4 if args.quick else 8
    processor = MiniCPMVProcessor.from_config(full())
    with tempfile.TemporaryDirectory() as tmp:
        data = section("local corpus")(corpus)(Path(tmp) / "corpus", 160 if args.quick else 320)
        model = section("build the full model (random weights, bf16)")(build_full)(device)
        if model is not None:
            model.to(torch.bfloat16)
            rollout_check(model, processor, device, args.quick)
            model.resampler.float()  # PT-1: fp32 master weights for what trains; the rest frozen in bf16
            if data is not None:
                sft_check(model, processor, device, "resampler", data, steps, gpu_gib, name, False)
            del model
            torch.cuda.empty_cache()
        model = section(f"build the model with {layers} LLM layers (fp32 masters)")(build_full)(device, layers)
        if model is not None and data is not None:
            model.llm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            model.vpm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            sft_check(model, processor, device, "all", data, steps, gpu_gib, name, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
