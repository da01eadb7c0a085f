"""What every GPU-check section shares: the targets, the two scales (GPU, `--cpu`), the run's `Context` (device,
scratch folder, one cached model), the model at that scale, the device's bf16 peak and the PASS / FAIL verdict."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

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
    ocr_pages: int = 3  # demo scans read per provider in the `ocr` section


# GPU fallback shape: one batch the bridge gave from this check's corpus (896 x 672 images: 5 slices of 28 x 37
# patches each; 11 samples, 8,073 tokens, 55 slices; other batches: 11-12 samples, 7,490-8,158 tokens, 55-60 slices)
GPU = Scale("full", 8192, 320, (896, 672), 600, 12, 6, 2, 8, (12, 8, 96),
            (957, 483, 408, 818, 651, 838, 897, 814, 825, 786, 596), 5, (28, 37))
# CPU: small enough for the suite (bf16 matmuls are emulated on most CPUs: a tiny-model step takes seconds)
CPU = Scale("tiny", 512, 16, (224, 168), 80, 1, 2, 1, 1, (3, 2, 4), (200, 170), 1, (16, 16), ocr_pages=1)


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
