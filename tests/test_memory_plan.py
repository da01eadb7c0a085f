"""The memory plan against the tiny model's measured tensors, and its refusal with advice at the paper's scale."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from corpus.errors import UserError
from model.config import full, tiny
from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor
from training_bridge.data.packing import pack_collate
from training_bridge.train.freezing import freeze_for_stage
from training_bridge.train.memory_plan import PlanInput, plan_memory
from training_bridge.train.model_io import sample_to_dict, token_logprobs
from training_bridge.train.optim import build_optimizer
from training_bridge.train.train_config import OptimConfig

TOLERANCE = 0.25  # the plan is within 25% of the measured bytes, term by term for activations and in total


def _measure(stage: str) -> tuple[dict[str, float], dict]:
    """Bytes the tiny model really holds in one fp32 training step: weights, gradients, AdamW state, and the
    tensors autograd saves in the forward pass (unique storages, weights excluded)."""
    torch.manual_seed(0)
    config = tiny()
    model, processor = MiniCPMV(config), MiniCPMVProcessor.from_config(config)
    freeze_for_stage(model, stage)
    img = Image.new("RGB", (448, 336), (90, 140, 30))
    text = "a page of text that the assistant transcribes " * 6
    samples = [processor([{"role": "user", "content": "<image>\nRead it."}, {"role": "assistant", "content": text}],
                         [img], []) for _ in range(2)]
    batch = pack_collate([sample_to_dict(s) for s in samples], 0)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def keep(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    optimizer, _ = build_optimizer(model, OptimConfig(lr=1e-3), 1)
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        logp, _ = token_logprobs(model, batch)
    (-logp.sum()).backward()
    optimizer.step()
    measured = {
        "parameters": sum(p.numel() * 4 for p in model.parameters()),
        "gradients": sum(p.grad.numel() * 4 for p in model.parameters() if p.grad is not None),
        "optimizer": sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if t.dim()),
        "activations": sum(saved.values()),
    }
    shape = {"tokens": batch["input_ids"].numel(), "slices": int(batch["tgt_sizes"].shape[0]), "config": config}
    return measured, shape


@pytest.mark.parametrize("stage", ["all", "resampler"])
def test_plan_matches_the_tiny_models_measured_memory(stage):
    measured, shape = _measure(stage)
    plan = plan_memory(PlanInput(shape["config"], stage=stage, parallel="none", bf16=False, tokens=shape["tokens"],
                                 slices=shape["slices"]))
    assert plan.parameters == measured["parameters"] and plan.gradients == measured["gradients"]
    assert plan.optimizer == measured["optimizer"]  # frozen parts: no gradient, no optimizer state
    ratio = plan.activations / measured["activations"]
    total = plan.total / sum(measured.values())
    print(f"\n{stage}: plan/measured activations {ratio:.3f}, total {total:.3f}")
    assert abs(ratio - 1) < TOLERANCE and abs(total - 1) < TOLERANCE


def test_full_model_plan_refuses_one_gpu_and_advises_fsdp():
    one = plan_memory(PlanInput(full(), stage="all", parallel="none", tokens=8192, gpu_gib=80, gpu_name="H100"))
    with pytest.raises(UserError, match=r"needs FSDP over >= \d+ H100-80GB at 8,192 tokens"):
        one.check()
    sharded = plan_memory(PlanInput(full(), stage="all", parallel="fsdp", world_size=8, tokens=8192, gpu_gib=80,
                                    activation_checkpointing=True))
    sharded.check()  # fits: no error
    assert sharded.optimizer == pytest.approx(one.optimizer / 8)
    assert "fits" in sharded.table()
