"""RLPR's std filter on two gloo processes: the ranks score different prompts with different rewards, and still
agree on the threshold and on every keep decision, the same as one process holding all their groups; a resume
from a checkpoint restores the same state on both ranks and continues with the decisions of an uninterrupted
run. With the all-reduce taken out, the same data makes the ranks' thresholds and decisions differ. The step
metrics are those of one process too (a mean of per-rank means, as before, would differ: the ranks hold
different numbers of long rollouts, and the loss and clip fraction are shares of global counts).

The ranks run the trainer's own pieces (`HybridGRPO`'s scorer, `checkpoint_state`, `start`, the loop's
checkpoint functions) on the tiny model; only the reward terms of each group are given (`_groups`), so the
test controls what each rank sees.
"""
from __future__ import annotations

import json
import os
import random
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from training_bridge.rl import std_filter as std_filter_module
from training_bridge.rl.prompts import FREE_FORM, Prompt
from training_bridge.rl.rewards import RewardParts
from training_bridge.rl.rollout import Rollout
from training_bridge.rl.std_filter import GroupSpread, StdFilter, agreed_keeps
from training_bridge.rl.step_stats import step_stats
from training_bridge.train.distributed import DistEnv

WORLD, STEPS, SAVE_AT, GROUPS, SIZE, MOMENTUM = 2, 6, 3, 4, 4, 0.5
ONE = DistEnv(0, 1, 0, torch.device("cpu"))


def _groups(step: int, rank: int) -> list[tuple[list[RewardParts], bool]]:
    """Rank `rank`'s groups at `step`: three RLPR groups (rank 1's rewards spread ~4x wider than rank 0's, so
    thresholds computed per rank would differ) and one rule-verified group."""
    rng = random.Random(1000 * step + rank)
    scale = (0.15, 0.6)[rank]
    out = []
    for k in range(GROUPS):
        rlpr = k < GROUPS - 1
        accuracy = [rng.random() * scale if rlpr else float(rng.random() < 0.5) for _ in range(SIZE)]
        out.append(([RewardParts(a, 0.5, 0.0, 0.0) for a in accuracy], rlpr))
    return out


def _step(trainer, step: int, rank: int) -> dict:
    """One step of the trainer's scorer on this rank's given groups: the keep table, advantages, threshold."""
    given = _groups(step, rank)
    prompts = [Prompt(f"s{step}/r{rank}/g{k}", "q", "ref", FREE_FORM) for k in range(GROUPS)]
    trainer.scorer.group_rewards = lambda prompt, rollouts, sample: given[int(prompt.uid.rsplit("g", 1)[1])]
    rollouts = [Rollout(k, "long", [1], "x", True) for k in range(GROUPS) for _ in range(SIZE)]
    scored = trainer.scorer.score_step(prompts, [(k, "long") for k in range(GROUPS)], rollouts,
                                       {k: None for k in range(GROUPS)})
    trained = [any(a != 0.0 for a in scored.advantages[k * SIZE : (k + 1) * SIZE]) for k in range(GROUPS)]
    return {"keeps": scored.keeps, "trained": trained, "threshold": trainer.scorer.std_filter.threshold}


def _stats_inputs(rank: int) -> tuple[list[Rollout], list[RewardParts], tuple[float, float, float]]:
    """Step 0 of rank `rank` for the step metrics: its rollouts (rank 0's first group in short mode, so the ranks
    have different numbers of long rollouts), reward terms, and (loss share, clipped tokens, response tokens)."""
    parts = [p for terms, _ in _groups(0, rank) for p in terms]
    rollouts = [Rollout(k, "short" if rank == 0 and k == 0 else "long", [1] * (2 + k + rank), "x", True)
                for k in range(GROUPS) for _ in range(SIZE)]
    return rollouts, parts, (0.25 + rank, 3.0 * rank, 10.0 + 30.0 * rank)


def _rank(rank: int, port: int, out: str, reduce: bool) -> None:
    """One rank: STEPS steps; with `reduce`, a checkpoint after SAVE_AT of them, and a fresh trainer restored
    from it that runs the remaining steps again. Writes `out/rank{r}.json`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from training_bridge.rl.grpo import HybridGRPO
    from training_bridge.train.checkpointing import latest_checkpoint, load_training_state, save_training_state
    from training_bridge.train.distributed import init_distributed, shutdown
    from training_bridge.train.train_config import GRPOConfig, ModelSpec, RewardConfig, RLConfig, TrainRun

    env = init_distributed()
    if not reduce:  # the bug this guards against: each rank sees only its own groups
        std_filter_module.all_gather_floats = lambda values, e: [list(values) if r == e.rank else []
                                                                 for r in range(e.world_size)]
    cfg = RLConfig(model=ModelSpec(max_slice_nums=1), grpo=GRPOConfig(prompts_per_step=GROUPS, group_size=SIZE),
                   reward=RewardConfig(rm="none", std_filter_momentum=MOMENTUM),
                   run=TrainRun(out_dir=str(Path(out) / "run"), progress=False, cpu_threads=1))
    prompts = [Prompt("p", "q", "ref", FREE_FORM)]
    trainer, result = HybridGRPO(cfg, env, prompts), {"straight": []}
    for step in range(STEPS):
        result["straight"].append(_step(trainer, step, rank))
        if reduce and step + 1 == SAVE_AT:  # what `run_loop` saves; the run goes on undisturbed
            save_training_state(cfg.run.out_dir, SAVE_AT, env, trainer.model, trainer.optimizer, trainer.scheduler,
                                extra=trainer.checkpoint_state().extra)
            result["saved"] = trainer.scorer.std_filter.state_dict()
    if reduce:  # a fresh trainer resumed from that checkpoint, as `run_loop` resumes
        resumed = HybridGRPO(cfg, env, prompts)
        resumed.start(load_training_state(latest_checkpoint(cfg.run.out_dir), env, resumed.model, resumed.optimizer,
                                          resumed.scheduler))
        result["restored"] = resumed.scorer.std_filter.state_dict()
        result["after"] = [_step(resumed, step, rank) for step in range(SAVE_AT, STEPS)]
    keeps = result["straight"][0]["keeps"]
    result["stats"] = step_stats(*_stats_inputs(rank)[:2], keeps, SIZE, _stats_inputs(rank)[2], 0.5, env).as_dict()
    Path(out, f"rank{rank}.json").write_text(json.dumps(result))
    shutdown(env)


def _run(tmp_path: Path, reduce: bool) -> list[dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path), reduce), nprocs=WORLD, join=True)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]


def _one_process() -> tuple[list[list[bool]], list[float]]:
    """What one process holding both ranks' groups, in rank order, keeps at each step, and its thresholds."""
    f, keeps, thresholds = StdFilter(MOMENTUM), [], []
    for step in range(STEPS):
        groups = [g for rank in range(WORLD) for g in _groups(step, rank)]
        keeps.append(agreed_keeps([GroupSpread.of(t, r) for t, r in groups], f, ONE)[0])
        thresholds.append(f.threshold)
    return keeps, thresholds


def test_ranks_agree_on_the_rlpr_filter_and_a_resume_keeps_it(tmp_path):
    ranks = _run(tmp_path, reduce=True)
    keeps, thresholds = _one_process()
    flat = [k for step in keeps for k in step]
    assert any(flat) and not all(flat)  # the filter keeps some groups and drops others
    for rank, seen in enumerate(ranks):
        straight = seen["straight"]
        assert [s["threshold"] for s in straight] == thresholds  # bit for bit, on every rank
        assert [[k for row in s["keeps"] for k in row] for s in straight] == keeps  # every group of every rank
        assert all(s["trained"] == s["keeps"][rank] for s in straight)  # each rank trains on its row
        assert seen["saved"] == seen["restored"] == {"threshold": thresholds[SAVE_AT - 1], "updates": SAVE_AT}
        assert seen["after"] == straight[SAVE_AT:]  # the resumed run decides as the uninterrupted one
    # the step metrics: global sums over global counts, as one process holding both ranks' rollouts
    rollouts, parts, updates = zip(*(_stats_inputs(rank) for rank in range(WORLD)))
    one = step_stats([r for row in rollouts for r in row], [p for row in parts for p in row],
                     ranks[0]["straight"][0]["keeps"], SIZE, tuple(map(sum, zip(*updates))), 0.5, ONE).as_dict()
    assert ranks[0]["stats"] == ranks[1]["stats"] == pytest.approx(one)
    long = [p.accuracy for rank in range(WORLD) for r, p in zip(rollouts[rank], parts[rank]) if r.mode == "long"]
    assert one["accuracy_long"] == pytest.approx(sum(long) / len(long))  # weighted by each rank's long rollouts


def test_without_the_all_reduce_the_ranks_disagree(tmp_path):
    """The data of the test above is such that per-rank thresholds differ: the agreement there is the reduce's."""
    ranks = _run(tmp_path, reduce=False)
    keeps, thresholds = _one_process()
    local = [[s["threshold"] for s in seen["straight"]] for seen in ranks]
    assert all(a != b for a, b in zip(*local))  # each rank's threshold is its own
    assert any(local_rank != thresholds for local_rank in local)
    own = [[s["keeps"][rank] for s in seen["straight"]] for rank, seen in enumerate(ranks)]
    agreed = [[k[rank * GROUPS : (rank + 1) * GROUPS] for k in keeps] for rank in range(WORLD)]
    assert own != agreed  # some rank trains on another prompt set than the agreed one
