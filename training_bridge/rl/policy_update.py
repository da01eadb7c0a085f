"""The GRPO policy update: the clipped loss and the optimizer steps over one step's rollouts.

`epochs` passes of `minibatches` optimizer steps over the rollouts with a non-zero advantage; loss =
PPO-clipped ratio times advantage (ratio clipped to [1 - clip_low, 1 + clip_high]), **no KL and no entropy
term**, averaged over all response tokens of the minibatch on all ranks ("token") or per sequence
("sequence"). Old log-probs come from a no-grad pass before the first update when there is more than one
update per step, else the ratio is 1 and its gradient is the policy gradient.

Replicated (parallel none/ddp): gradients are summed across ranks by hand (`distributed.all_reduce_gradients`),
so ranks may skip different groups. FSDP: every rank runs as many micro-batches as the busiest one
(zero-weight extras), as FSDP's collectives require.
"""
from __future__ import annotations

import random
from typing import Any

import torch

from training_bridge.data.stream import derived_seed
from training_bridge.rl.rollout import Rollout, continuation_batch
from training_bridge.train.batch_device import to_device
from training_bridge.train.distributed import DistEnv, all_reduce_gradients, all_reduce_sum, even_micro_batches, no_sync
from training_bridge.train.optim import clip_gradients
from training_bridge.train.precision import autocast
from training_bridge.train.token_logprobs import chunks, token_logprobs
from training_bridge.train.train_config import RLConfig


def grpo_token_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                    clip_low: float, clip_high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token clipped surrogate loss `(B, T)` (zero off the mask), and where clipping was active.

    `-min(r A, clip(r, 1 - clip_low, 1 + clip_high) A)` with `r = exp(logp - old_logp)`; no KL, no entropy.
    """
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None].to(logp.dtype)
    loss = -torch.minimum(ratio * adv, ratio.clamp(1 - clip_low, 1 + clip_high) * adv)
    clipped = ((ratio < 1 - clip_low) & (adv < 0)) | ((ratio > 1 + clip_high) & (adv > 0))
    return loss * mask, clipped & mask


def split(items: list[int], parts: int) -> list[list[int]]:
    """`parts` near-equal consecutive pieces (some may be empty, so every rank takes the same optimizer steps)."""
    n = len(items)
    return [items[k * n // parts : (k + 1) * n // parts] for k in range(parts)]


class PolicyUpdate:
    """Updates `model` with `optimizer` from a step's rollouts and advantages (module docstring)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, cfg: RLConfig, env: DistEnv,
                 pad_id: int, sharded: bool) -> None:
        self.model, self.optimizer, self.cfg, self.env = model, optimizer, cfg, env
        self.pad_id, self.sharded = pad_id, sharded

    def __call__(self, step: int, rollouts: list[Rollout], samples: dict[int, Any], advantages: list[float]
                 ) -> tuple[float, float, float]:
        """This rank's share of the mean loss per optimizer step (the shares of all ranks sum to it: the loss is
        normalised by global counts), and its clipped and total response tokens (`step_stats` adds them up)."""
        g, env = self.cfg.grpo, self.env
        active = [i for i, a in enumerate(advantages) if a != 0.0]
        if all_reduce_sum(len(active), env) == 0:
            return 0.0, 0.0, 0.0
        prompt_of = [samples[i // g.group_size] for i in range(len(rollouts))]
        old: dict[int, torch.Tensor] = {}
        fallback = active[:1] or [0]  # what a rank with fewer micro-batches than another runs at zero weight
        if g.epochs * g.minibatches > 1:
            with torch.no_grad():
                parts = even_micro_batches(chunks(active, g.micro_batch_size), fallback, env, self.sharded)
                for chunk, weight in parts:
                    logp, mask = self._logprobs(chunk, rollouts, prompt_of)
                    if weight:
                        old.update({i: row[m] for i, row, m in zip(chunk, logp, mask)})
        rng = random.Random(derived_seed(self.cfg.run.seed, env.rank, step, 2))
        loss_total, clipped, counted = 0.0, 0.0, 0.0
        for _ in range(g.epochs):
            order = list(active)
            rng.shuffle(order)
            for mb in split(order, g.minibatches):
                if g.loss_agg == "token":
                    local = sum(len(rollouts[i].response_ids) for i in mb)
                elif g.loss_agg == "sequence":
                    local = len(mb)
                else:
                    raise ValueError(f"loss_agg must be token or sequence, not {g.loss_agg!r}")
                denom = max(all_reduce_sum(local, env), 1.0)
                parts = even_micro_batches(chunks(mb, g.micro_batch_size), fallback, env, self.sharded)
                for k, (chunk, weight) in enumerate(parts):
                    with no_sync(self.model, skip=k < len(parts) - 1):
                        logp, mask = self._logprobs(chunk, rollouts, prompt_of)
                        old_logp = logp.detach().clone()
                        if old and weight:
                            old_logp[mask] = torch.cat([old[i] for i in chunk])
                        adv = torch.tensor([advantages[i] for i in chunk], device=logp.device)
                        token_loss, clip = grpo_token_loss(logp, old_logp, adv, mask, g.clip_low, g.clip_high)
                        if g.loss_agg == "token":
                            loss = token_loss.sum() / denom
                        else:
                            loss = (token_loss.sum(-1) / mask.sum(-1).clamp(min=1)).sum() / denom
                        (loss * weight).backward()
                    if weight:
                        loss_total += float(loss.detach())
                        clipped += float(clip.sum())
                        counted += float(mask.sum())
                if not self.sharded:
                    all_reduce_gradients(self.model, env)
                clip_gradients(self.model, self.cfg.optim.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
        return loss_total / (g.epochs * g.minibatches), clipped, counted

    def _logprobs(self, chunk: list[int], rollouts: list[Rollout], prompt_of: list[Any]):
        responses = [rollouts[i].response_ids for i in chunk]
        batch = continuation_batch([prompt_of[i] for i in chunk], responses, self.pad_id)
        with autocast(self.env.device, self.cfg.run.precision):
            return token_logprobs(self.model, to_device(batch, self.env.device), self.cfg.run.logprob_chunk)
