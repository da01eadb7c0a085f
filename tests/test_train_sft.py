"""SFT end to end on CPU: demo corpus → tiny model through `mmcorpus train sft`; loss falls, exact resume,
stage freezing, and the data-wait fraction from the run's throughput meter."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from train_corpus import docs_corpus, one_thread  # noqa: F401  (fixture)

from cli.main import main
from training_bridge.data.config import DataConfig
from training_bridge.train.checkpointing import read_weights
from training_bridge.train.model_build import build_model
from training_bridge.train.sft import train_sft
from training_bridge.train.train_config import ModelSpec, OptimConfig, SFTConfig, TrainRun

STEPS = 8


def _config(corpus: Path, out: Path, **run) -> dict:
    return {
        "model": {"preset": "tiny", "max_slice_nums": 1},
        # a CPU-sized token budget skips the 4 longest of 14 pages: the run must be told it may
        "data": {"corpora": [str(corpus)], "max_tokens": 640, "max_skipped": 0.5, "shuffle_buffer": 16, "num_workers": 1},
        "optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 1},
        "grad_accum": 2,
        "run": {"out_dir": str(out), "steps": STEPS, "save_every": 4, "log_every": 1, "progress": False,
                "cpu_threads": 1, **run},
    }


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _losses(out: Path) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in _metrics(out) if "loss" in m}  # later lines win (a resumed run)


@pytest.fixture(scope="module")
def corpus(ray_session, tmp_path_factory) -> Path:
    return docs_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def sft_run(corpus, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("sft")
    config = out / "sft.yaml"
    config.write_text(yaml.safe_dump(_config(corpus, out / "run")))
    assert main(["train", "sft", "--config", str(config)]) == 0
    return config, out / "run"


def test_sft_loss_falls_and_run_is_recorded(sft_run):
    _, out = sft_run
    losses = _losses(out)
    assert sorted(losses) == list(range(1, STEPS + 1))
    first, last = sum(losses[s] for s in (1, 2)) / 2, sum(losses[s] for s in (STEPS - 1, STEPS)) / 2
    assert last < 0.8 * first, losses
    assert (out / "final" / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000004", "step-00000008"]
    meter = _metrics(out)[-1]
    wait = meter["data_wait_fraction"]
    assert 0.0 <= wait < 1.0 and meter["tokens_per_s"] > 0
    print(f"\nSFT data-wait fraction: {wait:.3f} ({meter['samples_per_s']:.2f} samples/s, "
          f"{meter['tokens_per_s']:.0f} tokens/s, tiny model, 1 loader worker)")


def test_sft_resumes_exactly_from_a_checkpoint(sft_run):
    config, out = sft_run
    before = _losses(out)
    shutil.rmtree(out / "checkpoints" / "step-00000008")
    shutil.rmtree(out / "final")
    assert main(["train", "sft", "--config", str(config)]) == 0  # resumes at step 4
    after = _losses(out)
    lines = [m["step"] for m in _metrics(out) if "loss" in m]
    assert lines == list(range(1, STEPS + 1)) + list(range(5, STEPS + 1))  # steps 5..8 ran again
    assert after == pytest.approx(before, abs=1e-5)  # same batches, same optimizer state, same losses


def test_freeze_resampler_stage_trains_only_the_resampler(corpus, tmp_path):
    cfg = SFTConfig(model=ModelSpec(max_slice_nums=1), freeze="resampler",
                    data=DataConfig(corpora=[str(corpus)], max_tokens=640, max_skipped=0.5, num_workers=0),
                    optim=OptimConfig(lr=1e-3), run=TrainRun(out_dir=str(tmp_path), steps=2, save_every=0,
                                                             progress=False, cpu_threads=1))
    result = train_sft(cfg)
    initial = build_model(ModelSpec(), seed=0)[0].state_dict()
    trained = read_weights(result.final_model)
    changed = {k.split(".")[0] for k, v in trained.items() if not torch.equal(v, initial[k])}
    assert changed == {"resampler"}
