"""DPO on RLAIF-V preference pairs: the loss and the trainer (paper: beta 0.1, batch 256, LR 1e-6, 400 steps); the
outer loop is `train/loop.py`'s.

    result = train_dpo(DPOConfig(...))      # or: mmcorpus train dpo --config configs/train_dpo.yaml

1. Build the policy (`model.init`, normally the RL output) and read this rank's prompts from the corpora.
2. Preference pairs: `{out_dir}/pairs-rank{r}.json` when a previous run wrote it (resume), else collected
   by `rlaif.collect_pairs` with the configured verifier (default "snapshot": the initial policy judging claims
   on the image; every pair is judged before the first update, so no copy is needed, `judges.py`) and saved there.
3. The reference model is the initial policy: its sequence log-probs of every chosen and rejected
   response are computed once, before training, and stored with the pairs.
4. Each step takes `batch_size` pairs over all ranks (a seeded permutation per epoch, `picking.py`; never a pair
   twice in one step: a rank with fewer pairs than its share of the batch uses each once), in micro-batches
   of `micro_batch_size`; loss = -log sigmoid(beta * ((log pi(c) - log ref(c)) - (log pi(r) - log ref(r))))
   averaged over the step's pairs; gradients summed over ranks.
5. Logs loss, mean implicit reward margin, preference accuracy; checkpoints like the other stages.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from corpus.config import to_dict
from training_bridge.data.stream import derived_seed
from training_bridge.rl.judges import PolicyJudges, load_verifier, run_warnings
from training_bridge.rl.picking import epoch_rows
from training_bridge.rl.prompts import Prompt, load_prompts
from training_bridge.rl.rlaif import ClaimVerifier, PreferencePair, collect_pairs
from training_bridge.rl.rollout import continuation_batch, render_prompt
from training_bridge.train.batch_device import to_device
from training_bridge.train.checkpointing import Resumed
from training_bridge.train.distributed import DistEnv, all_reduce_gradients, all_reduce_sum
from training_bridge.train.freezing import freeze_for_stage
from training_bridge.train.loop import CheckpointState, StepMetrics, launch, run_loop, seed_everything
from training_bridge.train.model_build import build_model
from training_bridge.train.optim import build_optimizer, clip_gradients
from training_bridge.train.precision import autocast
from training_bridge.train.token_logprobs import chunks, token_logprobs
from training_bridge.train.train_config import DPOConfig

log = logging.getLogger(__name__)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair DPO losses and implicit reward margins `beta * (chosen log-ratio - rejected log-ratio)`."""
    margins = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(margins), margins.detach()


@dataclass
class DPOStep(StepMetrics):
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
    def body(env: DistEnv) -> DPOResult:
        trainer = DPOTrainer(cfg, env, prompts, verifier)
        done = run_loop(trainer, cfg.run, env)
        return DPOResult(done.history, len(trainer.pairs), done.final_model)

    return launch(cfg.run, body)


class DPOTrainer:
    """The policy, this rank's preference pairs with their reference log-probs, and one DPO step."""

    name, progress = "dpo", ("loss", "margin")

    def __init__(self, cfg: DPOConfig, env: DistEnv, prompts: list[Prompt] | None, verifier: ClaimVerifier | None
                 ) -> None:
        self.cfg, self.env, run = cfg, env, cfg.run
        self.model, self.processor = build_model(cfg.model, run.seed)
        freeze_for_stage(self.model, "all")
        self.model.to(env.device)
        prompts = prompts if prompts is not None else load_prompts(cfg.data, cfg.tasks, env)
        self.by_uid = {p.uid: p for p in prompts}
        records = self._pair_records(prompts, verifier)
        if all_reduce_sum(len(records), env) == 0:
            raise ValueError("RLAIF-V produced no preference pair: sample more responses or lower rlaif.min_gap")
        self.pairs = [PreferencePair(**{k: v for k, v in r.items() if not k.startswith("ref_")}) for r in records]
        self.ref_c = torch.tensor([r["ref_chosen"] for r in records])
        self.ref_r = torch.tensor([r["ref_rejected"] for r in records])
        self.optimizer, self.scheduler = build_optimizer(self.model, cfg.optim, run.steps)
        self.local_batch = max(cfg.dpo.batch_size // env.world_size, 1)

    def _pair_records(self, prompts: list[Prompt], verifier: ClaimVerifier | None) -> list[dict[str, Any]]:
        """This rank's pairs with reference log-probs: from `pairs-rank{r}.json`, else collected and saved there."""
        cfg, env, run = self.cfg, self.env, self.cfg.run
        pairs_file = Path(run.out_dir) / f"pairs-rank{env.rank}.json"
        if pairs_file.is_file():
            records = json.loads(pairs_file.read_text())
            log.info("rank %d: %d pairs from %s", env.rank, len(records), pairs_file)
            return records
        seed_everything(derived_seed(run.seed, env.rank) % (2**31))
        judges = PolicyJudges(self.model, self.processor, env.device, run.precision, frozen_copy=False)
        verifier = verifier or load_verifier(cfg.rlaif.verifier, judges, env.device, run.precision)
        pairs = collect_pairs(self.model, self.processor, prompts, cfg.rlaif, verifier, env, run.precision,
                              run.progress)
        records = [p.to_dict() for p in pairs]
        with torch.no_grad():  # 3. reference log-probs: the initial policy is the reference model
            for chunk in chunks(list(range(len(pairs))), cfg.dpo.micro_batch_size):
                sub = [pairs[i] for i in chunk]
                for name, chosen in (("ref_chosen", True), ("ref_rejected", False)):
                    values = self._logps(sub, chosen)
                    for i, v in zip(chunk, values.tolist()):
                        records[i][name] = v
        pairs_file.parent.mkdir(parents=True, exist_ok=True)
        pairs_file.write_text(json.dumps(records))
        return records

    def _logps(self, pairs: list[PreferencePair], chosen: bool) -> torch.Tensor:
        return sequence_logps(self.model, self.processor, self.by_uid, pairs, chosen, self.env.device,
                              self.cfg.run.precision)

    def header(self) -> dict[str, Any]:
        return {"config": to_dict(self.cfg), "pairs": len(self.pairs), "warnings": run_warnings(self.cfg)}

    def start(self, resumed: Resumed | None) -> None:
        self.model.train()

    def checkpoint_state(self) -> CheckpointState:
        return CheckpointState()

    def finish(self) -> None:
        return None

    def step(self, step: int) -> DPOStep:
        """One optimizer step over this step's pairs; loss, margin and preference accuracy over all ranks."""
        env, n = self.env, len(self.pairs)
        rows = epoch_rows(n, min(self.local_batch, n), step, self.cfg.run.seed, env.rank)
        denom = max(all_reduce_sum(len(rows), env), 1.0)
        loss_sum = margin_sum = correct = 0.0
        for chunk in chunks(rows, self.cfg.dpo.micro_batch_size):
            sub = [self.pairs[i] for i in chunk]
            pc, pr = self._logps(sub, True), self._logps(sub, False)
            losses, margins = dpo_loss(pc, pr, self.ref_c[chunk].to(pc.device), self.ref_r[chunk].to(pc.device),
                                       self.cfg.dpo.beta)
            (losses.sum() / denom).backward()
            loss_sum += float(losses.detach().sum())
            margin_sum += float(margins.sum())
            correct += float((margins > 0).sum())
        all_reduce_gradients(self.model, env)
        clip_gradients(self.model, self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return DPOStep(all_reduce_sum(loss_sum, env) / denom, all_reduce_sum(margin_sum, env) / denom,
                       all_reduce_sum(correct, env) / denom)
