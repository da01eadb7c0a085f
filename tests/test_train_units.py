"""Pieces of the trainers without a corpus: rewards, GRPO and DPO losses, claims and pairs, schedules, configs."""
from __future__ import annotations

import math

import pytest
import torch

from corpus.config import ConfigError, load_config
from model.config import tiny
from model.minicpmv import MiniCPMV
from training_bridge.rl.dpo import dpo_loss
from training_bridge.rl.policy_update import grpo_token_loss
from training_bridge.rl.prompts import Prompt
from training_bridge.rl.rewards import (
    OverlapPreferenceModel,
    combine,
    format_reward,
    parse_response,
    repetition_penalty,
    rlpr_score,
    similarity,
    standardize,
    verify_short,
)
from training_bridge.rl.rlaif import OverlapVerifier, ScoredResponse, pair_indices, split_claims
from training_bridge.rl.scoring import group_advantages
from training_bridge.rl.std_filter import StdFilter
from training_bridge.train.freezing import freeze_for_stage
from training_bridge.train.optim import lr_factor
from training_bridge.train.train_config import DPOConfig, OptimConfig, RLConfig, SFTConfig


@pytest.mark.parametrize("answer,reference,expected", [
    ("3", "3", 1.0), ("There are 3 regions.", "3", 1.0), ("3.0", "3", 1.0), ("4", "3", 0.0), ("three", "3", 0.0),
    ("\\boxed{12}", "12", 1.0), ("(B)", "B", 1.0), ("b.", "B", 1.0), ("C", "B", 0.0),
    ("  Paris. ", "paris", 1.0), ("Lyon", "Paris", 0.0),
])
def test_verify_short(answer, reference, expected):
    assert verify_short(answer, reference) == expected


def test_parse_response_and_format_by_mode():
    long = parse_response("count them\n</think>\n\n3", "long")
    assert long.reasoning == "count them" and long.answer == "3" and long.well_formed
    assert format_reward(long, terminated=True) == 1.0 and format_reward(long, terminated=False) == 0.0
    assert not parse_response("3", "long").well_formed  # long mode needs </think>
    assert not parse_response("\n</think>\n\n3", "long").well_formed  # and some reasoning
    assert parse_response("3", "short").well_formed
    assert not parse_response("x</think>3", "short").well_formed  # short mode has no think tags


def test_repetition_penalty_and_similarity():
    assert repetition_penalty([1, 2, 3, 4, 5, 6], 2) == 0.0
    assert repetition_penalty([7] * 10, 2) == pytest.approx(-(1 - 1 / 9))
    assert repetition_penalty([1], 4) == 0.0
    assert similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert similarity("Same text.", "same text") == 1.0


def test_rlpr_debiasing_and_std_filter():
    assert rlpr_score(torch.tensor([0.9, 0.7]), torch.tensor([0.3, 0.5])) == pytest.approx(0.4)
    assert rlpr_score(torch.tensor([0.2]), torch.tensor([0.6])) == 0.0  # clipped at 0
    f = StdFilter(momentum=0.5)
    assert f.keep(0.01) and not f.keep(0.0)  # threshold starts at 0: only constant groups dropped
    f.update([0.2, 0.4])
    assert f.threshold == pytest.approx(0.3) and not f.keep(0.2) and f.keep(0.35)
    f.update([0.1])
    assert f.threshold == pytest.approx(0.2)
    g = StdFilter()
    g.load_state_dict(f.state_dict())
    assert g.threshold == f.threshold and g.updates == 2


def test_reward_combination_standardises_rm_within_the_group():
    parsed = [parse_response(t, "long") for t in ("a\n</think>\n\nx", "b\n</think>\n\ny", "zzz")]
    rm = [OverlapPreferenceModel().score(Prompt("p", "q", ref, "free_form"), [p.answer])[0]
          for p, ref in zip(parsed, ["x", "y", "x"])]
    parts = combine([1.0, 0.0, 0.0], parsed, [True, True, False], [[1, 2], [3, 4], [5, 5, 5, 5, 5, 5]], rm,
                    format_weight=0.5, repetition_weight=1.0, rm_weight=0.5, ngram=2)
    assert [p.format for p in parts] == [0.5, 0.5, 0.0]
    assert parts[2].repetition < 0 and parts[0].repetition == 0
    assert sum(p.rm for p in parts) == pytest.approx(0.0, abs=1e-9)  # standardised: zero mean over the group
    assert standardize([2.0, 2.0]) == [0.0, 0.0]


def test_grpo_loss_has_no_kl_and_clips_both_sides():
    adv = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 3, dtype=torch.bool)
    logp = torch.zeros(2, 3, requires_grad=True)
    loss, clipped = grpo_token_loss(logp, logp.detach(), adv, mask, 0.2, 0.2)
    assert loss.sum().item() == 0.0 and not clipped.any()  # ratio 1: the loss is -A * 1 summed = 0 here
    loss.sum().backward()
    assert torch.allclose(logp.grad, torch.tensor([[-1.0] * 3, [1.0] * 3]))  # plain policy gradient
    old = torch.full((2, 3), -1.0)  # ratio e: beyond 1 + 0.2
    loss, clipped = grpo_token_loss(torch.zeros(2, 3), old, adv, mask, 0.2, 0.2)
    assert clipped[0].all() and not clipped[1].any()
    assert loss[0, 0].item() == pytest.approx(-1.2) and loss[1, 0].item() == pytest.approx(math.e)
    assert group_advantages([1.0, 0.0, 1.0, 0.0]) == pytest.approx([0.866, -0.866, 0.866, -0.866], abs=1e-3)


def test_dpo_loss_prefers_raising_the_chosen_margin():
    pc = torch.tensor([-5.0], requires_grad=True)
    pr = torch.tensor([-5.0], requires_grad=True)
    loss, margin = dpo_loss(pc, pr, torch.tensor([-5.0]), torch.tensor([-5.0]), beta=0.1)
    assert loss.item() == pytest.approx(math.log(2)) and margin.item() == 0.0
    loss.sum().backward()
    assert pc.grad.item() < 0 < pr.grad.item()  # descent raises chosen, lowers rejected


def test_claims_verifier_and_pairs():
    text = "The title is Results. The table has three rows.\nA footnote; a second clause that is long enough, and more."
    assert split_claims(text)[:3] == ["The title is Results.", "The table has three rows.", "A footnote; a second clause that is long enough, and more."]
    prompt = Prompt("p", "<image>\nDescribe.", "ref", "free_form", context="The title is Results.")
    scores = OverlapVerifier().score(prompt, ["The title is Results.", "Bananas fly east."])
    assert scores[0] == 1.0 and scores[1] < 0.5
    scored = [ScoredResponse([1], "aaaa", ["c"], [1.0], 0.0), ScoredResponse([2], "bb", ["c", "d"], [0.0, 0.0], -2.0),
              ScoredResponse([3], "cccc", ["c"], [0.0], -1.0), ScoredResponse([4], "", [], [], 0.0)]
    assert pair_indices(scored, min_gap=1.0, max_pairs=2) == [(0, 1)]  # each response in at most one pair
    assert pair_indices(scored, min_gap=1.0, max_pairs=1) == [(0, 1)]
    assert pair_indices(scored, min_gap=3.0, max_pairs=2) == []


def test_lr_schedules():
    cfg = OptimConfig(lr=1.0, min_lr=0.1, schedule="cosine", warmup_steps=2)
    assert [lr_factor(s, cfg, 10) for s in (0, 1)] == [0.5, 1.0]
    assert lr_factor(2, cfg, 10) == pytest.approx(1.0) and lr_factor(10, cfg, 10) == pytest.approx(0.1)
    wsd = OptimConfig(lr=1.0, min_lr=0.2, schedule="wsd", decay_steps=4)
    assert lr_factor(5, wsd, 10) == 1.0 and lr_factor(9, wsd, 10) == pytest.approx(0.2)


def test_freeze_stages():
    model = MiniCPMV(tiny())
    counts = freeze_for_stage(model, "resampler")
    assert counts["vpm"] == counts["llm"] == 0 < counts["resampler"]
    counts = freeze_for_stage(model, "vision")
    assert counts["llm"] == 0 < counts["vpm"]
    assert min(freeze_for_stage(model, "all").values()) > 0
    with pytest.raises(ValueError, match="stage"):
        freeze_for_stage(model, "llm-only")


def test_configs_load_from_yaml_and_reject_typos(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("freeze: vision\ndata: {corpora: [a, b], weights: [1, 2]}\noptim: {betas: [0.9, 0.99]}\n")
    cfg = load_config(SFTConfig, path, ["run.steps=7"])
    assert cfg.freeze == "vision" and cfg.data.corpora == ["a", "b"] and cfg.optim.betas == (0.9, 0.99)
    assert cfg.run.steps == 7
    rl, dpo = load_config(RLConfig), load_config(DPOConfig)
    assert rl.grpo.long_fraction == 0.5 and rl.reward.rm_weight == 0.5 and rl.optim.lr == 1e-6
    assert (dpo.dpo.beta, dpo.dpo.batch_size, dpo.optim.lr, dpo.run.steps) == (0.1, 256, 1e-6, 400)
    path.write_text("grpo: {group_sise: 8}\n")
    with pytest.raises(ConfigError, match="group_sise"):
        load_config(RLConfig, path)


def test_judge_verifier_scores_claims_with_a_model():
    from PIL import Image

    from model.processor import MiniCPMVProcessor
    from training_bridge.rl.rlaif import JudgeVerifier

    torch.manual_seed(0)
    model = MiniCPMV(tiny())
    processor = MiniCPMVProcessor.from_config(tiny())
    prompt = Prompt("p", "<image>\nDescribe.", "ref", "free_form", images=[Image.new("RGB", (64, 48), "white")])
    scores = JudgeVerifier(model, processor, torch.device("cpu"), "fp32").score(prompt, ["A claim.", "Another one."])
    assert len(scores) == 2 and all(0.0 < s < 1.0 for s in scores) and scores[0] != scores[1]
