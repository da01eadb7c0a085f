"""DPO on RLAIF-V preference pairs: the loss and the loop (paper: beta 0.1, batch 256, LR 1e-6, 400 steps).

    result = train_dpo(DPOConfig(...))      # or: mmcorpus train dpo --config configs/train_dpo.yaml

1. Build the policy (`model.init`, normally the RL output) and read this rank's prompts from the corpora.
2. Preference pairs: `{out_dir}/pairs-rank{r}.json` when a previous run wrote it (resume), else collected
   by `rlaif.collect_pairs` with the configured verifier (default: the initial policy judging claims on the
   image, `judges.py`) and saved there.
3. The reference model is the initial policy: its sequence log-probs of every chosen and rejected
   response are computed once, before training, and stored with the pairs.
4. Each step takes `batch_size` pairs over all ranks (a seeded permutation per epoch; never a pair twice in
   one step: a rank with fewer pairs than its share of the batch uses each once), in micro-batches
   of `micro_batch_size`; loss = -log sigmoid(beta * ((log pi(c) - log ref(c)) - (log pi(r) - log ref(r))))
   averaged over the step's pairs; gradients summed over ranks.
5. Logs loss, mean implicit reward margin, preference accuracy; checkpoints like the other stages.
"""
from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from corpus.config import to_dict
from training_bridge.data.stream import derived_seed
from training_bridge.rl.judges import load_verifier, run_warnings
from training_bridge.rl.rl_tasks import Prompt, load_prompts
from training_bridge.rl.rlaif import ClaimVerifier, JudgeVerifier, PreferencePair, collect_pairs
from training_bridge.rl.rollout import continuation_batch, render_prompt
from training_bridge.train.checkpointing import latest_checkpoint, load_training_state, save_model, save_training_state
from training_bridge.train.distributed import (
    DistEnv,
    all_reduce_gradients,
    all_reduce_sum,
    barrier,
    init_distributed,
    shutdown,
)
from training_bridge.train.freezing import apply_stage
from training_bridge.train.model_io import autocast, build_model, chunks, to_device, token_logprobs
from training_bridge.train.optim import build_optimizer, clip_gradients
from training_bridge.train.runlog import MetricsLog
from training_bridge.train.sft import seed_everything, set_threads
from training_bridge.train.train_config import DPOConfig

log = logging.getLogger(__name__)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair DPO losses and implicit reward margins `beta * (chosen log-ratio - rejected log-ratio)`."""
    margins = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(margins), margins.detach()


@dataclass
class DPOStep:
    loss: float
    margin: float
    accuracy: float


@dataclass
class DPOResult:
    history: list[DPOStep] = field(default_factory=list)
    pairs: int = 0
    final_model: Path | None = None


def sequence_logps(model: torch.nn.Module, processor, prompts: dict[str, Prompt], pairs: list[PreferencePair],
                   chosen: bool, device: torch.device, precision: str) -> torch.Tensor:
    """Summed log-probs of each pair's chosen (or rejected) response given its prompt, `(len(pairs),)`."""
    samples = [render_prompt(processor, prompts[p.prompt_uid], p.mode) for p in pairs]
    responses = [p.chosen_ids if chosen else p.rejected_ids for p in pairs]
    batch = to_device(continuation_batch(samples, responses, processor.tokenizer.pad_token_id), device)
    with autocast(device, precision):
        logp, _ = token_logprobs(model, batch)
    return logp.sum(-1)


def train_dpo(cfg: DPOConfig, prompts: list[Prompt] | None = None, verifier: ClaimVerifier | None = None) -> DPOResult:
    """Collect RLAIF-V pairs (or reuse the saved ones) and run (or resume) DPO; see the module docstring."""
    env = init_distributed()
    try:
        set_threads(cfg.run.cpu_threads)
        seed_everything(cfg.run.seed)
        return _train(cfg, env, prompts, verifier)
    finally:
        shutdown(env)


def _train(cfg: DPOConfig, env: DistEnv, prompts: list[Prompt] | None, verifier: ClaimVerifier | None) -> DPOResult:
    run, out_dir = cfg.run, Path(cfg.run.out_dir)
    policy, processor = build_model(cfg.model, run.seed)
    apply_stage(policy, "all")
    policy.to(env.device)
    prompts = prompts if prompts is not None else load_prompts(cfg.data, cfg.tasks, env)
    by_uid = {p.uid: p for p in prompts}

    pairs_file = out_dir / f"pairs-rank{env.rank}.json"
    if pairs_file.is_file():
        records = json.loads(pairs_file.read_text())
        log.info("rank %d: %d pairs from %s", env.rank, len(records), pairs_file)
    else:
        seed_everything(derived_seed(run.seed, env.rank) % (2**31))
        verifier = verifier or load_verifier(cfg.rlaif.verifier, JudgeVerifier(policy, processor, env.device, run.precision),
                                             env.device, run.precision)
        pairs = collect_pairs(policy, processor, prompts, cfg.rlaif, verifier, env, run.precision, run.progress)
        records = [p.to_dict() for p in pairs]
        with torch.no_grad():  # 3. reference log-probs: the initial policy is the reference model
            for chunk in chunks(list(range(len(pairs))), cfg.dpo.micro_batch_size):
                sub = [pairs[i] for i in chunk]
                for name, chosen in (("ref_chosen", True), ("ref_rejected", False)):
                    values = sequence_logps(policy, processor, by_uid, sub, chosen, env.device, run.precision)
                    for i, v in zip(chunk, values.tolist()):
                        records[i][name] = v
        out_dir.mkdir(parents=True, exist_ok=True)
        pairs_file.write_text(json.dumps(records))
    if all_reduce_sum(len(records), env) == 0:
        raise ValueError("RLAIF-V produced no preference pair: sample more responses or lower rlaif.min_gap")
    pairs = [PreferencePair(**{k: v for k, v in r.items() if not k.startswith("ref_")}) for r in records]
    ref_c = torch.tensor([r["ref_chosen"] for r in records])
    ref_r = torch.tensor([r["ref_rejected"] for r in records])

    optimizer, scheduler = build_optimizer(policy, cfg.optim, run.steps)
    step = 0
    checkpoint = latest_checkpoint(out_dir) if run.resume else None
    if checkpoint is not None:
        step = load_training_state(checkpoint, env, policy, optimizer, scheduler).step
        log.info("resumed from %s at step %d", checkpoint, step)
    metrics = MetricsLog(out_dir, env.is_main)
    if checkpoint is None:
        metrics.write(0, {"config": to_dict(cfg), "pairs": len(records), "warnings": run_warnings(cfg)}, echo=False)

    result = DPOResult(pairs=len(records))
    local_batch = max(cfg.dpo.batch_size // env.world_size, 1)
    policy.train()
    bar = tqdm(total=run.steps, initial=step, desc="dpo", disable=not (run.progress and env.is_main))
    while step < run.steps:
        chosen_rows = _batch_rows(len(pairs), min(local_batch, len(pairs)), step, run.seed, env.rank)
        denom = max(all_reduce_sum(len(chosen_rows), env), 1.0)
        loss_sum = margin_sum = correct = 0.0
        for chunk in chunks(chosen_rows, cfg.dpo.micro_batch_size):
            sub = [pairs[i] for i in chunk]
            pc = sequence_logps(policy, processor, by_uid, sub, True, env.device, run.precision)
            pr = sequence_logps(policy, processor, by_uid, sub, False, env.device, run.precision)
            losses, margins = dpo_loss(pc, pr, ref_c[chunk].to(pc.device), ref_r[chunk].to(pc.device), cfg.dpo.beta)
            (losses.sum() / denom).backward()
            loss_sum += float(losses.detach().sum())
            margin_sum += float(margins.sum())
            correct += float((margins > 0).sum())
        all_reduce_gradients(policy, env)
        clip_gradients(policy, cfg.optim.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        stats = DPOStep(all_reduce_sum(loss_sum, env) / denom, all_reduce_sum(margin_sum, env) / denom,
                        all_reduce_sum(correct, env) / denom)
        result.history.append(stats)
        bar.update(1)
        bar.set_postfix(loss=f"{stats.loss:.3f}", margin=f"{stats.margin:.3f}")
        if step % run.log_every == 0 or step == run.steps:
            metrics.write(step, stats.__dict__)
        if step == run.steps or (run.save_every and step % run.save_every == 0):
            save_training_state(out_dir, step, env, policy, optimizer, scheduler, keep=run.keep_checkpoints)
    bar.close()
    barrier(env)
    result.final_model = out_dir / "final" / "model"
    save_model(policy, result.final_model, env)
    return result


def _batch_rows(n: int, size: int, step: int, seed: int, rank: int) -> list[int]:
    """Rows of this step: consecutive slices of seeded per-epoch permutations of the `n` local pairs."""
    rows: list[int] = []
    for position in range(step * size, (step + 1) * size) if n else ():
        order = list(range(n))
        random.Random(derived_seed(seed, rank, position // n)).shuffle(order)
        rows.append(order[position % n])
    return rows
