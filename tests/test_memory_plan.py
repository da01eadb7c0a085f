"""The memory plan against the tiny model's measured tensors, and its refusal with advice at the paper's scale."""
from __future__ import annotations

import contextlib

import pytest
import torch
from PIL import Image
from torch.utils._python_dispatch import TorchDispatchMode
from train_corpus import one_thread  # noqa: F401  (fixture: one torch thread, as the trainer tests)

from corpus.errors import UserError
from model.config import full, tiny
from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor
from training_bridge.data.packing import pack_collate
from training_bridge.train.freezing import cast_frozen, freeze_for_stage
from training_bridge.train.memory_plan import PlanInput, plan_memory
from training_bridge.train.optim import build_optimizer
from training_bridge.train.precision import autocast
from training_bridge.train.record_inputs import sample_to_dict
from training_bridge.train.token_logprobs import token_logprobs
from training_bridge.train.train_config import OptimConfig

CPU = torch.device("cpu")
TOLERANCE = 0.25  # the plan is within 25% of the measured bytes, term by term for activations and in total


def _measure(stage: str, bf16: bool) -> tuple[dict[str, float], dict]:
    """Bytes the tiny model really holds in one training step: weights, gradients, AdamW state, and the tensors
    autograd saves in the forward pass (unique storages, weights excluded), split into autocast's bf16 copies of
    weights (made from a weight's storage) and activations.

    `bf16`: as a bf16 run computes (`sft.py`): parts frozen end to end cast to bf16, the forward under bf16
    autocast (on the CPU here), fp32 master weights for what trains."""
    torch.manual_seed(0)
    config = tiny()
    model, processor = MiniCPMV(config), MiniCPMVProcessor.from_config(config)
    freeze_for_stage(model, stage)
    if bf16:
        cast_frozen(model, torch.bfloat16)
    img = Image.new("RGB", (448, 336), (90, 140, 30))
    text = "a page of text that the assistant transcribes " * 6
    samples = [processor([{"role": "user", "content": "<image>\nRead it."}, {"role": "assistant", "content": text}],
                         [img], []) for _ in range(1 if bf16 else 2)]  # bf16 matmuls are slow on CPUs
    batch = pack_collate([sample_to_dict(s) for s in samples], 0)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, torch.UntypedStorage] = {}

    def keep(t: torch.Tensor) -> torch.Tensor:
        if t.untyped_storage().data_ptr() not in weights:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage()
        return t

    optimizer, _ = build_optimizer(model, OptimConfig(lr=1e-3), 1)
    casts = _WeightCasts(weights)
    with (torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t), autocast(CPU, "bf16" if bf16 else "fp32"),
          casts if bf16 else contextlib.nullcontext()):  # fp32: nothing is cast
        logp, _ = token_logprobs(model, batch)
    copies = sum(s.nbytes() for ptr, s in saved.items() if ptr in casts.copies)
    (-logp.sum()).backward()
    optimizer.step()
    measured = {
        "parameters": sum(p.numel() * p.element_size() for p in model.parameters()),
        "gradients": sum(p.grad.numel() * 4 for p in model.parameters() if p.grad is not None),
        "optimizer": sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if t.dim()),
        "weight_copies": copies,
        "activations": sum(s.nbytes() for s in saved.values()) - copies,
    }
    shape = {"tokens": batch["input_ids"].numel(), "slices": int(batch["tgt_sizes"].shape[0]), "config": config}
    return measured, shape


class _WeightCasts(TorchDispatchMode):
    """Records the storages of bf16 casts made from a weight's storage (autocast casts a weight, or a piece of a
    packed one, through `aten._to_copy`)."""

    def __init__(self, weights: set[int]) -> None:
        super().__init__()
        self.weights, self.copies = weights, set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten._to_copy.default and args[0].untyped_storage().data_ptr() in self.weights:
            self.copies.add(out.untyped_storage().data_ptr())
        return out


@pytest.mark.parametrize("stage", ["all", "resampler"])
@pytest.mark.parametrize("bf16", [False, True])
def test_plan_matches_the_tiny_models_measured_memory(stage, bf16):
    """Without checkpointing: under it, checkpoint holds each layer's input outside autograd's saved tensors, so
    this measurement cannot see it (`benchmarks/gpu_check.py` sets the checkpointed plan beside the GPU's peak)."""
    measured, shape = _measure(stage, bf16)
    plan = plan_memory(PlanInput(shape["config"], stage=stage, parallel="none", bf16=bf16, tokens=shape["tokens"],
                                 slices=shape["slices"]))
    assert plan.parameters == measured["parameters"] and plan.gradients == measured["gradients"]
    assert plan.optimizer == measured["optimizer"]  # frozen parts: no gradient, no optimizer state
    ratio = plan.activations / measured["activations"]
    steady = plan.total - plan.transient  # what exists at the end of the forward pass
    total = steady / sum(measured.values())
    print(f"\n{stage}, bf16 {bf16}: plan/measured activations {ratio:.3f}, "
          f"weight copies {plan.weight_copies / max(measured['weight_copies'], 1):.3f}, total {total:.3f}")
    assert abs(ratio - 1) < TOLERANCE and abs(total - 1) < TOLERANCE
    if bf16:  # every weight copy is saved for backward
        assert abs(plan.weight_copies / measured["weight_copies"] - 1) < TOLERANCE
    if not bf16:
        assert plan.weight_copies == 0


def test_full_model_plan_refuses_one_gpu_and_advises_fsdp():
    one = plan_memory(PlanInput(full(), stage="all", parallel="none", tokens=8192, gpu_gib=80, gpu_name="H100"))
    with pytest.raises(UserError, match=r"needs FSDP over >= \d+ H100-80GB at 8,192 tokens"):
        one.check()
    sharded = plan_memory(PlanInput(full(), stage="all", parallel="fsdp", world_size=8, tokens=8192, gpu_gib=80,
                                    activation_checkpointing=True))
    sharded.check()  # fits: no error
    assert sharded.optimizer == pytest.approx(one.optimizer / 8)
    assert "fits" in sharded.table()


def test_rl_plan_counts_the_judge_model(tmp_path):
    """RL's judge model sits unsharded on every GPU (bf16 in bf16 runs): by default a frozen copy of the policy,
    or the checkpoint folder `reward.rm` names (its own size); "none" and "live" add nothing."""
    from model.checkpoint import save_checkpoint
    from model.minicpmv import count_parameters
    from training_bridge.train.memory_plan import plan_for
    from training_bridge.train.train_config import ModelSpec, RewardConfig, RLConfig, TrainRun

    def plan(rm: str):
        cfg = RLConfig(model=ModelSpec(preset="full"), reward=RewardConfig(rm=rm),
                       run=TrainRun(parallel="fsdp", gpu_memory_gib=80))
        return plan_for(cfg, 8, torch.device("cpu"))

    save_checkpoint(MiniCPMV(tiny()), tmp_path / "judge")
    snapshot, folder, none, live = plan("snapshot"), plan(str(tmp_path / "judge")), plan("none"), plan("live")
    assert snapshot.judge == 2 * count_parameters(full())["total"]
    assert folder.judge == 2 * count_parameters(tiny())["total"]
    assert none.judge == live.judge == 0 and snapshot.total == pytest.approx(none.total + snapshot.judge)
    assert "judge model" in snapshot.table() and "judge model" not in none.table()
