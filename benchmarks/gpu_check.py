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
   plan fits, fewer after an out-of-memory error;
9. `ocr`: the docs build's OCR pages/s on onnxruntime's CPU and CUDA providers, same scanned pages (optional:
   measured where onnxruntime-gpu and the OCR's modules are installed, recorded as not measured otherwise).
SFT sections report tokens/s, MFU against the device's dense bf16 peak, the data-wait fraction, the
forward / backward / optimizer split and peak memory beside the plan. The targets, PASS or FAIL:
PT-1 MFU >= 40%, all-parameter MFU >= 35%, data wait < 5%, batched rollouts >= 5x one at a time.
Exit status 0 when every section ended ok.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.check_sections import Sections  # noqa: E402
from benchmarks.gpu_sections.attention import attention  # noqa: E402
from benchmarks.gpu_sections.batches import batches  # noqa: E402
from benchmarks.gpu_sections.context import CPU, GPU, Context  # noqa: E402
from benchmarks.gpu_sections.env import env  # noqa: E402
from benchmarks.gpu_sections.ocr import ocr  # noqa: E402
from benchmarks.gpu_sections.plan import plan  # noqa: E402
from benchmarks.gpu_sections.resampler import resampler  # noqa: E402
from benchmarks.gpu_sections.rollouts import rollouts  # noqa: E402
from benchmarks.gpu_sections.sft import sft_all, sft_pt1  # noqa: E402

SECTIONS = [("env", env), ("batches", batches), ("plan", plan), ("resampler", resampler), ("attention", attention),
            ("sft_pt1", sft_pt1), ("rollouts", rollouts), ("sft_all", sft_all), ("ocr", ocr)]

BUDGETS_S = {"env": 60, "batches": 120, "plan": 60, "resampler": 60, "attention": 90, "sft_pt1": 180,
             "rollouts": 150, "sft_all": 240, "ocr": 90}


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
