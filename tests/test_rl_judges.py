"""RL and RLAIF-V defaults judge on the image with a frozen snapshot of the policy, never the weights in
training (the live policy only by name, warned); text-only stand-ins only by name, warned in the log and the
run manifest; RLPR's std filter reads the RLPR reward; the default RL tasks are checkable from the image."""
from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
import torch
from PIL import Image

from corpus.errors import UserError
from model.checkpoint import save_checkpoint
from model.config import tiny
from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor
from schemas.record import SampleRecord, Turn
from training_bridge.rl.grpo import HybridGRPO, train_rl
from training_bridge.rl.judges import ClaimJudgeRM, PolicyJudges, load_preference_model, load_verifier, run_warnings
from training_bridge.rl.prompts import FREE_FORM, Prompt, prompts_from_record
from training_bridge.rl.rewards import RewardParts
from training_bridge.rl.rlaif import OverlapVerifier
from training_bridge.rl.rollout import Rollout, render_prompt
from training_bridge.rl.std_filter import GroupSpread, StdFilter, keeps
from training_bridge.train.distributed import init_distributed
from training_bridge.train.train_config import (
    DPOConfig,
    GRPOConfig,
    ModelSpec,
    OptimConfig,
    RewardConfig,
    RLConfig,
    TaskConfig,
    TrainRun,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def policy() -> PolicyJudges:
    torch.manual_seed(0)
    return PolicyJudges(MiniCPMV(tiny()), MiniCPMVProcessor.from_config(tiny()), CPU, "fp32")


def _prompt(color: str) -> Prompt:
    return Prompt("p", "<image>\nWhat is shown?", "A white page.", FREE_FORM, images=[Image.new("RGB", (64, 48), color)])


def test_defaults_judge_on_the_image_and_skip_guessing_tasks():
    rl, dpo = RLConfig(), DPOConfig()
    assert rl.reward.rm == "snapshot" and dpo.rlaif.verifier == "snapshot"
    assert not {"page_number", "region_count"} & set(rl.tasks.kinds)
    assert run_warnings(rl) == [] and run_warnings(dpo) == []


def test_snapshot_judge_rm_sees_the_image_and_the_stand_in_does_not(policy):
    rm = load_preference_model("snapshot", policy, CPU)
    assert isinstance(rm, ClaimJudgeRM) and rm.verifier.model is not policy.model
    assert not rm.verifier.model.training and not any(p.requires_grad for p in rm.verifier.model.parameters())
    answers = ["The page is white.", "There is a red square. It is small."]
    white, black = rm.score(_prompt("white"), answers), rm.score(_prompt("black"), answers)
    assert white != black  # same answers, same question, another image: another score
    overlap = load_preference_model("overlap", policy, CPU)
    assert overlap.score(_prompt("white"), answers) == overlap.score(_prompt("black"), answers)
    # bf16 runs keep the snapshot in bf16 (half the memory); it scores as the policy does under bf16 autocast
    half = PolicyJudges(policy.model, policy.processor, CPU, "bf16")
    frozen, live = load_preference_model("snapshot", half, CPU, "bf16"), load_preference_model("live", half, CPU, "bf16")
    assert {p.dtype for p in frozen.verifier.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in policy.model.parameters()} == {torch.float32}
    assert frozen.score(_prompt("white"), answers) == pytest.approx(live.score(_prompt("white"), answers), rel=0.05)
    # DPO judges every pair before its first update: the policy is its own snapshot, no copy
    dpo_policy = PolicyJudges(policy.model, policy.processor, CPU, "fp32", frozen_copy=False)
    assert load_verifier("snapshot", dpo_policy, CPU).model is policy.model
    assert isinstance(load_verifier("overlap", policy, CPU), OverlapVerifier)
    for role, load in (("reward.rm", load_preference_model), ("rlaif.verifier", load_verifier)):
        with pytest.raises(UserError, match=f"{role}='policy' is retired"):
            load("policy", policy, CPU)
    with pytest.raises(UserError, match="claims need a judge"):
        load_verifier("live", policy, CPU)


def test_snapshot_judge_holds_still_while_the_policy_trains_and_the_live_one_warns(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="training_bridge.rl.judges")
    prompt = _prompt("white")
    cfg = RLConfig(model=ModelSpec(max_slice_nums=1), optim=OptimConfig(lr=1e-2, schedule="constant"),
                   grpo=GRPOConfig(group_size=2, micro_batch_size=2),
                   run=TrainRun(out_dir=str(tmp_path), steps=1, progress=False, cpu_threads=1))
    env = init_distributed()
    answers = ["The page is white.", "There is a red square."]
    trainers = {spec: HybridGRPO(replace(cfg, reward=RewardConfig(rm=spec)), env, [prompt])
                for spec in ("snapshot", "live")}
    live_warnings = [w for w in trainers["live"].warnings if "reward.rm='live'" in w]
    assert len(live_warnings) == 1 and "feedback loop" in live_warnings[0]
    assert live_warnings[0] in [r.getMessage() for r in caplog.records]
    assert trainers["snapshot"].warnings == []
    tok = trainers["live"].processor.tokenizer
    texts = ["it is white\n</think>\n\nThe page is white.", "no idea\n</think>\n\nA red square."]
    rollouts = [Rollout(0, "long", tok.encode(t) + [tok.token_id("<|im_end|>")], t, True) for t in texts]
    for spec, trainer in trainers.items():
        before = trainer.scorer.rm.score(prompt, answers)
        weights = [p.detach().clone() for p in trainer.model.parameters()]
        trainer.model.train()
        trainer.update(0, rollouts, {0: render_prompt(trainer.processor, prompt, "long")}, [1.0, -1.0])
        assert any(not torch.equal(w, p) for w, p in zip(weights, trainer.model.parameters()))  # the policy moved
        after = trainer.scorer.rm.score(prompt, answers)
        assert (after == before) == (spec == "snapshot"), (spec, before, after)


def test_a_named_checkpoint_folder_is_the_judge(policy, tmp_path):
    torch.manual_seed(1)
    other = MiniCPMV(tiny())
    save_checkpoint(other, tmp_path / "judge")
    rm = load_preference_model(str(tmp_path / "judge"), policy, CPU)
    judge = rm.verifier.model
    assert judge is not policy.model and not any(p.requires_grad for p in judge.parameters())
    assert all(torch.equal(a, b) for a, b in zip(judge.state_dict().values(), other.state_dict().values()))
    assert len(rm.score(_prompt("white"), ["The page is white."])) == 1
    with pytest.raises(UserError, match="nor a folder"):
        load_preference_model(str(tmp_path / "missing"), policy, CPU)


def test_stand_ins_are_warned_in_log_and_manifest(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="training_bridge.rl.judges")
    cfg = RLConfig(model=ModelSpec(max_slice_nums=1), reward=RewardConfig(rm="overlap"),
                   tasks=TaskConfig(kinds=["page_number"]),
                   grpo=GRPOConfig(prompts_per_step=1, group_size=2, max_new_tokens=2, max_new_tokens_short=2),
                   run=TrainRun(out_dir=str(tmp_path), steps=1, save_every=0, progress=False, cpu_threads=1))
    train_rl(cfg, prompts=[Prompt("p", "<image>\nWhich page? Answer with a number.", "3", "short",
                                  images=[Image.new("RGB", (32, 32))])])
    manifest = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert any("reward.rm='overlap' is a text-only stand-in" in w for w in manifest["warnings"])
    assert any("page_number" in w for w in manifest["warnings"])
    logged = [r.getMessage() for r in caplog.records]
    assert set(manifest["warnings"]) <= set(logged)


def test_rlpr_std_filter_reads_the_rlpr_reward_not_the_total():
    std_filter = StdFilter()
    std_filter.threshold = 0.3
    # RLPR reward flat, total spread by the format term: the group says nothing about the reference
    flat = [RewardParts(0.5, f, 0.0, 0.0) for f in (0.0, 0.5, 0.0, 0.5)]
    assert GroupSpread.of(flat, True).rlpr == 0.0 and not keeps(GroupSpread.of(flat, True), std_filter)
    spread = [RewardParts(a, 0.5, 0.0, 0.0) for a in (0.0, 0.9, 0.1, 1.0)]
    assert keeps(GroupSpread.of(spread, True), std_filter)
    assert GroupSpread.of(spread, True).rlpr == pytest.approx(float(torch.tensor([0.0, 0.9, 0.1, 1.0]).std()))
    assert GroupSpread.of(flat, False).rlpr is None and keeps(GroupSpread.of(flat, False), std_filter)  # rule-verified
    assert keeps(GroupSpread.of(flat, True), None)  # reward.std_filter off


@pytest.mark.parametrize("task,kind,expected", [
    ("ocr", "region_text", True), ("reconstruct", "region_text", True), ("infer_masked", "region_text", True),
    ("caption", "region_text", False), ("caption", "caption_qa", True), ("video_qa", "caption_qa", True),
    ("transcribe_page", "caption_qa", False),
])
def test_default_task_kinds_take_their_records(task, kind, expected):
    record = SampleRecord(key="k", task=task, source="s", input_id="i",
                          conversations=[Turn("user", "<image>\nRead the boxed text."), Turn("assistant", "Results")])
    prompts = prompts_from_record(record, [Image.new("RGB", (8, 8))], [kind])
    assert bool(prompts) == expected
    if expected:
        assert prompts[0].reference == "Results" and prompts[0].answer_type == FREE_FORM
