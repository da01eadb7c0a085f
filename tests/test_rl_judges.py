"""RL and RLAIF-V defaults judge on the image; text-only stand-ins only by name, warned in the log and the
run manifest; RLPR's std filter reads the RLPR reward; the default RL tasks are checkable from the image."""
from __future__ import annotations

import json
import logging

import pytest
import torch
from PIL import Image

from model.config import tiny
from model.minicpmv import MiniCPMV
from model.processor import MiniCPMVProcessor
from schemas.record import SampleRecord, Turn
from training_bridge.rl.grpo import train_rl
from training_bridge.rl.judges import ClaimJudgeRM, load_preference_model, load_verifier, run_warnings
from training_bridge.rl.prompts import FREE_FORM, Prompt, prompts_from_record
from training_bridge.rl.rewards import RewardParts, StdFilter, keep_group
from training_bridge.rl.rlaif import JudgeVerifier, OverlapVerifier
from training_bridge.train.train_config import (
    DPOConfig,
    GRPOConfig,
    ModelSpec,
    RewardConfig,
    RLConfig,
    TaskConfig,
    TrainRun,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def judge() -> JudgeVerifier:
    torch.manual_seed(0)
    return JudgeVerifier(MiniCPMV(tiny()), MiniCPMVProcessor.from_config(tiny()), CPU, "fp32")


def _prompt(color: str) -> Prompt:
    return Prompt("p", "<image>\nWhat is shown?", "A white page.", FREE_FORM, images=[Image.new("RGB", (64, 48), color)])


def test_defaults_judge_on_the_image_and_skip_guessing_tasks():
    rl, dpo = RLConfig(), DPOConfig()
    assert rl.reward.rm == "policy" and dpo.rlaif.verifier == "policy"
    assert not {"page_number", "region_count"} & set(rl.tasks.kinds)
    assert run_warnings(rl) == [] and run_warnings(dpo) == []


def test_policy_judge_rm_sees_the_image_and_the_stand_in_does_not(judge):
    rm = load_preference_model("policy", judge, CPU)
    assert isinstance(rm, ClaimJudgeRM) and rm.verifier is judge
    answers = ["The page is white.", "There is a red square. It is small."]
    white, black = rm.score(_prompt("white"), answers), rm.score(_prompt("black"), answers)
    assert white != black  # same answers, same question, another image: another score
    overlap = load_preference_model("overlap", judge, CPU)
    assert overlap.score(_prompt("white"), answers) == overlap.score(_prompt("black"), answers)
    assert load_verifier("policy", judge, CPU) is judge and isinstance(load_verifier("overlap", judge, CPU), OverlapVerifier)


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
    assert keep_group(flat, True, std_filter) == (False, 0.0)
    spread = [RewardParts(a, 0.5, 0.0, 0.0) for a in (0.0, 0.9, 0.1, 1.0)]
    keep, std = keep_group(spread, True, std_filter)
    assert keep and std == pytest.approx(float(torch.tensor([0.0, 0.9, 0.1, 1.0]).std()))
    assert keep_group(flat, False, std_filter) == (True, None)  # rule-verified groups: only the total matters
    assert keep_group(flat, True, None) == (True, 0.0)  # reward.std_filter off


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
