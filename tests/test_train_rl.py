"""Hybrid RL end to end on CPU: a verifiable task from the demo corpus, cold-start SFT, then GRPO with both
modes; the mean reward rises. RLPR's reference probabilities checked against a direct forward pass."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_corpus import docs_corpus, one_thread  # noqa: F401  (fixture)

from model.processor import collate
from training_bridge.data.config import DataConfig
from training_bridge.rl.grpo import HybridGRPO, train_rl
from training_bridge.rl.prompts import FREE_FORM, SHORT, load_prompts, write_task_corpus
from training_bridge.rl.rewards import OverlapPreferenceModel, parse_response
from training_bridge.rl.rollout import Rollout, render_prompt
from training_bridge.train.distributed import init_distributed
from training_bridge.train.sft import train_sft
from training_bridge.train.train_config import (
    GRPOConfig,
    ModelSpec,
    OptimConfig,
    RewardConfig,
    RLConfig,
    SFTConfig,
    TaskConfig,
    TrainRun,
)

RL_STEPS, K = 16, 5


def _run(out: Path, steps: int) -> TrainRun:
    return TrainRun(out_dir=str(out), steps=steps, save_every=0, log_every=1, progress=False, cpu_threads=1)


@pytest.fixture(scope="module")
def corpus(ray_session, tmp_path_factory) -> Path:
    return docs_corpus(tmp_path_factory)


@pytest.fixture(scope="module")
def short_prompts(corpus):
    return load_prompts(DataConfig(corpora=[str(corpus)], num_workers=0), TaskConfig(kinds=["region_count", "page_number"]),
                        init_distributed())


def test_prompts_derived_from_records(corpus, short_prompts):
    assert {p.answer_type for p in short_prompts} == {SHORT}
    assert all(p.reference.isdigit() and len(p.images) == 1 for p in short_prompts)
    kinds = {p.uid.split("/")[1] for p in short_prompts}
    assert kinds == {"region_count", "page_number"}
    free = load_prompts(DataConfig(corpora=[str(corpus)], num_workers=0), TaskConfig(kinds=["region_text"]), init_distributed())
    assert free and all(p.answer_type == FREE_FORM and p.reference for p in free)


def test_hybrid_grpo_raises_the_mean_reward(short_prompts, tmp_path):
    # Cold start (the paper's RL follows SFT): the task's answers in both templates, so rollouts can score.
    n = write_task_corpus(short_prompts, tmp_path / "tasks", reasoning="ok")
    assert n == 2 * len(short_prompts)
    sft = train_sft(SFTConfig(model=ModelSpec(max_slice_nums=1),
                              data=DataConfig(corpora=[str(tmp_path / "tasks")], max_tokens=800, shuffle_buffer=64, num_workers=0),
                              optim=OptimConfig(lr=2e-3, schedule="constant"), run=_run(tmp_path / "sft", 30)))
    cfg = RLConfig(model=ModelSpec(init=str(sft.final_model), max_slice_nums=1),
                   optim=OptimConfig(lr=5e-4, schedule="constant"),
                   grpo=GRPOConfig(prompts_per_step=4, group_size=4, max_new_tokens=12, max_new_tokens_short=4,
                                   micro_batch_size=16),
                   reward=RewardConfig(rm="overlap"),  # the cheap text stand-in: this test is about GRPO itself
                   run=_run(tmp_path / "rl", RL_STEPS))
    history = train_rl(cfg, prompts=short_prompts).history
    rewards = [h.reward for h in history]
    first, last = sum(rewards[:K]) / K, sum(rewards[-K:]) / K
    print(f"\nmean reward: first {K} steps {first:.3f}, last {K} steps {last:.3f}; per step {[round(r, 2) for r in rewards]}")
    assert last > first + 0.1, rewards
    assert all(h.n_long == 2 and h.n_short == 2 for h in history)  # both modes, half the prompts each
    assert any(h.kept_groups for h in history)
    assert (tmp_path / "rl" / "final" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "rl" / "metrics.jsonl").read_text().count("\n") == RL_STEPS + 1


def test_rlpr_reference_probabilities_match_a_forward_pass(corpus, tmp_path):
    prompts = load_prompts(DataConfig(corpora=[str(corpus)], num_workers=0), TaskConfig(kinds=["region_text"]),
                           init_distributed())[:1]
    cfg = RLConfig(model=ModelSpec(max_slice_nums=1), run=_run(tmp_path, 1))
    trainer = HybridGRPO(cfg, init_distributed(), prompts, OverlapPreferenceModel())
    prompt, tok = prompts[0], trainer.processor.tokenizer
    eos, close = tok.token_id("<|im_end|>"), tok.token_id("</think>")
    ref = tok.encode(prompt.reference)
    short = render_prompt(trainer.processor, prompt, "short")
    (probs,) = trainer.scorer.reference_probs([short], [ref + [eos]], len(ref))
    batch = collate([short], tok.pad_token_id)
    full = torch.cat([batch["input_ids"], torch.tensor([ref + [eos]])], dim=1)
    with torch.no_grad():
        logits = trainer.model(input_ids=full, pixel_values=batch["pixel_values"], tgt_sizes=batch["tgt_sizes"],
                               image_bound=batch["image_bound"], temporal_ids=batch["temporal_ids"]).logits
    start = batch["input_ids"].shape[1]
    direct = torch.softmax(logits[0, start - 1 : start - 1 + len(ref)], -1).gather(-1, torch.tensor(ref)[:, None])[:, 0]
    assert torch.allclose(probs, direct, atol=1e-5)

    long = render_prompt(trainer.processor, prompt, "long")
    texts = ["some reasoning\n</think>\n\nanswer", "no close tag at all"]
    ids = [tok.encode(t) + [eos] for t in texts]
    rollouts = [Rollout(0, "long", i, t, True) for i, t in zip(ids, texts)]
    assert close in ids[0]
    scores = trainer.scorer.rlpr(prompt, long, rollouts, [parse_response(t, "long") for t in texts])
    assert 0.0 <= scores[0] <= 1.0 and scores[1] == 0.0  # ill-formed: no reasoning to score
