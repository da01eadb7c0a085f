"""Process group, device and model wrapping for `torchrun` (DDP or FSDP) and for plain single-process runs.

    env = init_distributed()                 # reads RANK / WORLD_SIZE / LOCAL_RANK set by torchrun
    model = wrap_model(model, env, "auto", precision="auto")
    ...
    shutdown(env)

Without torchrun (or with one process) there is no process group: rank 0 of 1, no wrapping, and the
collectives here are no-ops, so the same loop runs in CPU tests. Backend: NCCL on CUDA, gloo on CPU.
DDP keeps fp32 weights and the loop autocasts to bf16; FSDP (FSDP2 `fully_shard`, one unit per LLM decoder
layer, per vision layer, the resampler, plus the root) shards weights, gradients and optimizer state and
computes in bf16 with fp32 reductions.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn

from model.transformers_compat import enable_activation_checkpointing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """This process' place: `rank` of `world_size`, and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistEnv:
    """Join the torchrun process group when there is one; pick `cuda:LOCAL_RANK` or the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        log.info("rank %d of %d on %s", rank, world, device)
    return DistEnv(rank, world, local_rank, device)


def resolve_parallel(parallel: str, env: DistEnv) -> str:
    """`"auto"` → "ddp" with several processes, else "none"; validates the name."""
    if parallel not in ("auto", "none", "ddp", "fsdp"):
        raise ValueError(f"parallel must be auto, none, ddp or fsdp, not {parallel!r}")
    if parallel == "auto":
        return "ddp" if env.distributed else "none"
    if parallel != "none" and not env.distributed:
        log.info("parallel=%s with one process: running unwrapped", parallel)
        return "none"
    return parallel


def wrap_model(model: nn.Module, env: DistEnv, parallel: str, precision: str = "auto",
               activation_checkpointing: bool = False, reduce_dtype: str = "fp32") -> nn.Module:
    """`model` on `env.device`, wrapped for `parallel` (see `resolve_parallel`).

    DDP finds unused parameters, because a text-only batch leaves the vision encoder without gradients.
    FSDP (FSDP2 `fully_shard`): one unit per LLM decoder layer, per vision encoder layer, the resampler, the
    rest of the vision encoder, and the root (embeddings, final norm, LM head); parameters kept in fp32
    (the master copy) and computed in bf16 when `precision` asks for it, gradients reduced in
    `reduce_dtype`. `activation_checkpointing` recomputes each LLM and vision layer in the backward pass.
    """
    mode = resolve_parallel(parallel, env)
    if activation_checkpointing:
        for part in (model.llm, model.vpm):
            enable_activation_checkpointing(part)
    model.to(env.device)
    if mode == "none":
        return model
    if mode == "ddp":
        ids = [env.device.index] if env.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if reduce_dtype not in REDUCE_DTYPES:
        raise ValueError(f"reduce_dtype must be one of {sorted(REDUCE_DTYPES)}, not {reduce_dtype!r}")
    bf16 = precision == "bf16" or (precision == "auto" and env.device.type == "cuda")
    policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=REDUCE_DTYPES[reduce_dtype]) if bf16
              else MixedPrecisionPolicy())
    for layer in [*model.llm.model.layers, *model.vpm.encoder.layers, model.resampler, model.vpm]:
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


REDUCE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (FSDP2 modules are their own module)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@contextlib.contextmanager
def no_sync(model: nn.Module, skip: bool) -> Iterator[None]:
    """Gradient sync off for micro-batches that only accumulate (`skip` True), on for the last one.

    DDP: its `no_sync()` context. FSDP2: `set_requires_gradient_sync(not skip)`. Forward and backward of the
    micro-batch both belong inside the context.
    """
    from torch.distributed.fsdp import FSDPModule

    if isinstance(model, FSDPModule):
        model.set_requires_gradient_sync(not skip)
    if skip and isinstance(model, nn.parallel.DistributedDataParallel):
        with model.no_sync():
            yield
    else:
        yield


def all_reduce_sum(value: float, env: DistEnv) -> float:
    """Sum of `value` over all ranks (the value itself in one process)."""
    if not env.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=env.device)
    dist.all_reduce(t)
    return float(t.item())


def all_reduce_sums(values: list[float], env: DistEnv) -> list[float]:
    """Element-wise sums of `values` over all ranks, in one collective (`values` itself in one process)."""
    if not env.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=env.device)
    dist.all_reduce(t)
    return t.cpu().tolist()


def all_gather_floats(values: list[float], env: DistEnv) -> list[list[float]]:
    """Every rank's `values` (their lengths may differ), in rank order, identical on every rank (`[values]` in
    one process). One all-reduce of a zero-filled float64 table in which each rank fills only its own row, so
    every sum adds zeros to one value and is exact: all ranks read the same bits."""
    if not env.distributed:
        return [list(values)]
    longest = all_reduce_max(len(values), env)
    table = torch.zeros(env.world_size, longest + 1, dtype=torch.float64, device=env.device)
    table[env.rank, 0] = len(values)
    table[env.rank, 1 : 1 + len(values)] = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(table)
    return [row[1 : 1 + int(row[0])] for row in table.cpu().tolist()]


def all_reduce_gradients(model: nn.Module, env: DistEnv) -> None:
    """Sum every trainable parameter's gradient over ranks (missing gradients count as zeros).

    For loops that normalise their loss by a global count themselves and may run a different number of
    backward passes per rank (RL, DPO), instead of DDP's per-backward averaging.
    """
    if not env.distributed:
        return
    for p in model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)


def all_reduce_max(value: int, env: DistEnv) -> int:
    """The largest `value` over all ranks (the value itself in one process)."""
    if not env.distributed:
        return value
    t = torch.tensor([value], dtype=torch.long, device=env.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def even_micro_batches(parts: list[list[int]], fallback: list[int], env: DistEnv, sharded: bool
                       ) -> list[tuple[list[int], float]]:
    """`(micro-batch, loss weight)` pairs: this rank's parts at weight `world_size` under FSDP (whose
    reduce-scatter averages over ranks; a sum is wanted) or 1 otherwise; under FSDP padded with weight-0
    copies of `fallback` up to the most parts any rank has, since every rank must run the same passes."""
    if not sharded:
        return [(p, 1.0) for p in parts]
    most = all_reduce_max(len(parts), env)
    return [(p, float(env.world_size)) for p in parts] + [(fallback, 0.0)] * (most - len(parts))


def is_sharded(model: nn.Module) -> bool:
    """Whether `model` is wrapped by FSDP2."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def hold_unsharded(model: nn.Module) -> None:
    """FSDP2: gather every unit's whole weights and keep them gathered through later forward passes, so that
    rollouts and scoring (which run a different number of forwards on each rank) need no collective.
    Undo with `release_unsharded`. A no-op for an unsharded model."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            if module is not model:
                module.set_reshard_after_forward(False, recurse=False)
            module.unshard()


def release_unsharded(model: nn.Module) -> None:
    """Back to sharded weights that are gathered per unit for each forward (see `hold_unsharded`)."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            if module is not model:
                module.set_reshard_after_forward(True, recurse=False)
            module.reshard()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def shutdown(env: DistEnv) -> None:
    """Leave the process group, if this process joined one."""
    if env.distributed and dist.is_initialized():
        dist.destroy_process_group()
