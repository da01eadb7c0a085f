"""The memory plan of a training run, per GPU, printed before it starts (and refused when it cannot fit).

    plan = plan_memory(PlanInput(config, stage="all", world_size=8, parallel="fsdp", bf16=True, tokens=8192))
    print(plan.table()); plan.check()          # UserError with advice when it does not fit

Terms, in bytes per GPU (P: parameters, P_t: trainable ones, W: data-parallel ranks):
* parameters: fp32 master weights of what trains, P_t x 4, frozen parts in bf16 (2 bytes) when computing in
  bf16 unsharded (`freezing.cast_frozen`), else 4 bytes, all / W under FSDP, plus under FSDP the bf16 (or fp32) unsharded
  working copies of the root unit (embeddings, LM head) and two decoder layers (current + prefetched);
* gradients: P_t x 4 (FSDP: / W; DDP adds its reduction buckets, another P_t x 4);
* optimizer: AdamW's two fp32 moments, P_t x 8 (FSDP: / W); frozen parts hold none;
* weight copies: bf16 autocast over fp32 master weights (unsharded) casts every weight matrix that trains
  (linear, convolution, attention projections, the LM head; not the embedding tables) to bf16 and keeps
  the copies through the forward pass (autocast's cache) and, where they are saved for the backward
  pass, until it: 2 bytes per such parameter; none in fp32 or under FSDP (its bf16 working copies are
  counted with the parameters);
* activations: per token and LLM layer, what autograd keeps of a Qwen3 decoder layer:
  `4H + 6q + 4kv + 4I` values with trainable weights, `2H + 4q + 3kv + 3I` with frozen ones (inputs of
  frozen linears are not kept; gradients still flow to the resampler), at the compute width (2 bytes in
  bf16, 4 in fp32) plus two fp32 copies of H in the RMSNorms under bf16; the same per patch and vision
  layer (SigLIP: q = kv = H) for `slices` slices of `(scale_resolution / patch)^2` patches; with
  activation checkpointing, one layer input per layer kept, plus one layer's full set rebuilt in the
  backward pass (`transient`), the layer inputs at the width of the residual stream: fp32 where fp32 master weights train under bf16 autocast (the embeddings
  and every residual addition stay fp32), bf16 where the part is frozen and cast to bf16 or sharded by FSDP
  (bf16 parameters); the resampler's `kv_dim + 7D + 2 heads x queries` per patch; plus, in the backward pass,
  the chunked LM head (`logprob_chunk x vocab` fp32 logits and their gradient);
* judge: RL's preference judge when it is a model on the GPU: a frozen snapshot of the whole policy
  (`reward.rm: snapshot`, the default) or the checkpoint folder it names, never sharded: its parameters
  x 2 bytes in bf16, x 4 in fp32, on every GPU.
`slices` is the number of image slices in one micro-batch: measure it on the run's own batches (a page
or photo of the published slicing gives 5-10 slices of 64 tokens each, so an 8,192-token micro-batch of
image samples can carry 50-65 of them); the default, `tokens / 512`, suits text-heavy mixes.
Checked against the tiny model's measured tensors in `tests/test_memory_plan.py` (within 25%, in fp32 and
under bf16 autocast); on a GPU `benchmarks/gpu_check.py` prints the plan beside `torch.cuda.max_memory_allocated`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from corpus.errors import UserError
from model.checkpoint import CONFIG_NAME
from model.config import CONFIGS, MiniCPMVConfig
from model.minicpmv import MiniCPMV, count_parameters
from training_bridge.train.distributed import DistEnv
from training_bridge.train.freezing import STAGES
from training_bridge.train.train_config import SNAPSHOT, ModelSpec

log = logging.getLogger(__name__)

GIB = 1024**3
RESERVE = 0.9  # share of a GPU's memory the plan may use (allocator fragmentation, CUDA context, NCCL buffers)


@dataclass(frozen=True)
class PlanInput:
    """What the plan depends on: the model, the stage, the parallelism, and one micro-batch per GPU."""

    config: MiniCPMVConfig
    stage: str = "all"  # freezing.STAGES
    world_size: int = 1
    parallel: str = "none"  # "none" | "ddp" | "fsdp" (as resolved)
    bf16: bool = True
    tokens: int = 8192  # token budget of one micro-batch
    slices: int = -1  # vision slices per micro-batch; -1: tokens / 512 (16 slices of 448 px at 8,192 tokens)
    activation_checkpointing: bool = False
    logprob_chunk: int = 1024
    gpu_gib: float = 0.0  # per-GPU memory; 0: unknown (the plan is printed, never refused)
    gpu_name: str = "GPU"
    judge: MiniCPMVConfig | None = None  # a frozen judge model beside the policy (RL `reward.rm`), if any


@dataclass
class MemoryPlan:
    """Bytes per GPU by term, and whether (and with which advice) the run fits."""

    inputs: PlanInput
    parameters: float
    gradients: float
    optimizer: float
    weight_copies: float
    activations: float  # kept from the forward pass until backward
    transient: float  # rebuilt in backward: one checkpointed layer per stack, the LM head's chunk of logits
    judge: float = 0.0  # the frozen judge model, when there is one

    @property
    def total(self) -> float:
        return (self.parameters + self.gradients + self.optimizer + self.weight_copies + self.activations
                + self.transient + self.judge)

    @property
    def fits(self) -> bool:
        return not self.inputs.gpu_gib or self.total <= RESERVE * self.inputs.gpu_gib * GIB

    def table(self) -> str:
        p = self.inputs
        head = (f"memory plan per GPU: stage {p.stage}, {p.parallel} over {p.world_size}, "
                f"{'bf16' if p.bf16 else 'fp32'}, {p.tokens:,} tokens, {_slices(p)} slices, "
                f"activation checkpointing {'on' if p.activation_checkpointing else 'off'}")
        rows = [("parameters", self.parameters), ("gradients", self.gradients), ("optimizer", self.optimizer),
                ("weight copies", self.weight_copies), ("activations", self.activations),
                ("in backward", self.transient), *([("judge model", self.judge)] if self.judge else []),
                ("total", self.total)]
        lines = [head] + [f"  {name:<13} {value / GIB:9.2f} GiB" for name, value in rows]
        if p.gpu_gib:
            lines.append(f"  {'available':<13} {RESERVE * p.gpu_gib:9.2f} GiB ({RESERVE:.0%} of {p.gpu_gib:g} GiB "
                         f"{p.gpu_name}): {'fits' if self.fits else 'does NOT fit'}")
        return "\n".join(lines)

    def check(self) -> None:
        """Raise `UserError` with advice when the plan does not fit the GPU."""
        if not self.fits:
            raise UserError(f"the run will not fit in GPU memory:\n{self.table()}\n{advice(self.inputs)}")


def _slices(p: PlanInput) -> int:
    return p.slices if p.slices >= 0 else p.tokens // 512


def _layer_values(hidden: int, q: int, kv: int, inter: int, trainable: bool) -> int:
    """Values autograd keeps per token of one transformer layer (module docstring)."""
    return 4 * hidden + 6 * q + 4 * kv + 4 * inter if trainable else 2 * hidden + 4 * q + 3 * kv + 3 * inter


def _stack_bytes(tokens: int, layers: int, hidden: int, q: int, kv: int, inter: int, trainable: bool,
                 width: int, residual: int, checkpointing: bool) -> tuple[float, float]:
    """`(kept, recomputed)`: what a layer stack keeps from its forward pass until backward, and what backward
    rebuilds at once under checkpointing (one layer's full set)."""
    per_layer = tokens * (_layer_values(hidden, q, kv, inter, trainable) * width + (8 * hidden if width == 2 else 0))
    if checkpointing:
        return tokens * hidden * residual * layers, per_layer
    return per_layer * layers, 0.0


def _residual_width(p: PlanInput, trainable: bool) -> int:
    """Bytes per value of a part's residual stream (module docstring)."""
    return 4 if not p.bf16 or (trainable and p.parallel != "fsdp") else 2


def activation_bytes(p: PlanInput) -> tuple[float, float]:
    """`(kept, transient)` activations of one micro-batch (module docstring): what the forward pass keeps for
    backward, and what exists only briefly in backward (one recomputed layer per checkpointed stack, the
    LM head's chunk of logits); zero kept when nothing upstream of the LM head trains."""
    vpm_t, resampler_t, llm_t = STAGES[p.stage]
    c, width = p.config, 2 if p.bf16 else 4
    llm = c.llm
    kept, transient = _stack_bytes(p.tokens, llm.num_hidden_layers, llm.hidden_size,
                                   llm.num_attention_heads * llm.head_dim, llm.num_key_value_heads * llm.head_dim,
                                   llm.intermediate_size, llm_t, width, _residual_width(p, llm_t),
                                   p.activation_checkpointing)
    transient += 3 * 4 * min(p.logprob_chunk, p.tokens) * llm.vocab_size  # fp32 logits, softmax, their gradient
    patches = _slices(p) * (c.slicing.scale_resolution // c.slicing.patch_size) ** 2
    if resampler_t or vpm_t:  # kv projection, norms, keys and values, attention probabilities per query and head
        d = llm.hidden_size
        kept += patches * (c.vision.hidden_size + 7 * d + 2 * c.resampler_heads * c.query_num) * width
    if vpm_t:
        v = c.vision
        vk, vt = _stack_bytes(patches, v.num_hidden_layers, v.hidden_size, v.hidden_size, v.hidden_size,
                              v.intermediate_size, True, width, _residual_width(p, True), p.activation_checkpointing)
        kept, transient = kept + vk, transient + vt
    return float(kept), float(transient)


_COUNTS: dict[str, dict[str, int]] = {}


def _counts(config: MiniCPMVConfig) -> dict[str, int]:
    """`count_parameters`, remembered per configuration, plus `matrices:<part>`: the part's parameters of two or
    more dimensions outside embedding tables (what bf16 autocast copies)."""
    key = repr(config)
    if key not in _COUNTS:
        counts = count_parameters(config)
        with torch.device("meta"):
            model = MiniCPMV(config)
        tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
        for part in ("vpm", "resampler", "llm"):
            counts[f"matrices:{part}"] = sum(w.numel() for w in getattr(model, part).parameters()
                                             if w.dim() >= 2 and id(w) not in tables)
        _COUNTS[key] = counts
    return _COUNTS[key]


def plan_memory(p: PlanInput) -> MemoryPlan:
    """The per-GPU memory plan of `p`."""
    if p.stage not in STAGES:
        raise ValueError(f"unknown stage {p.stage!r}; choose one of {sorted(STAGES)}")
    counts = _counts(p.config)
    flags = dict(zip(("vpm", "resampler", "llm"), STAGES[p.stage]))
    total = counts["total"]
    trainable = sum(counts[part] for part, on in flags.items() if on)
    shards = p.world_size if p.parallel == "fsdp" else 1
    frozen_width = 2 if p.bf16 and p.parallel != "fsdp" else 4  # `freezing.cast_frozen` (bf16, unsharded)
    params = (4.0 * trainable + frozen_width * (total - trainable)) / shards
    grads, optim = 4.0 * trainable / shards, 8.0 * trainable / shards
    copies = 0.0
    if p.bf16 and p.parallel != "fsdp":  # autocast's bf16 copies of the fp32 weights that train
        copies = 2.0 * sum(counts[f"matrices:{part}"] for part, on in flags.items() if on)
    if p.parallel == "fsdp":
        llm = p.config.llm
        root = 2 * llm.vocab_size * llm.hidden_size
        layer = (counts["llm"] - root) / llm.num_hidden_layers
        params += (2 if p.bf16 else 4) * (root + 2 * layer)
        grads += 4 * layer * flags["llm"]  # one layer's unsharded gradient before its reduce-scatter
    elif p.parallel == "ddp":
        grads *= 2
    judge = (2.0 if p.bf16 else 4.0) * _counts(p.judge)["total"] if p.judge is not None else 0.0
    return MemoryPlan(p, params, grads, optim, copies, *activation_bytes(p), judge)


def advice(p: PlanInput) -> str:
    """What would make `p` fit: more FSDP ranks, activation checkpointing, or a smaller token budget."""
    def fits(**changes) -> bool:
        return plan_memory(PlanInput(**{**p.__dict__, **changes})).fits

    params = _counts(p.config)["total"] / 1e9
    what = f"{params:.1f}B {'full' if p.stage == 'all' else p.stage + '-stage'} training"
    tips = []
    for world in (2, 4, 8, 16, 32, 64):
        if world < p.world_size:
            continue
        launch = f"(torchrun --nproc-per-node {world} ... --set run.parallel=fsdp"
        if fits(parallel="fsdp", world_size=world):
            tips.append(f"{what} needs FSDP over >= {world} {p.gpu_name}-{p.gpu_gib:g}GB at {p.tokens:,} tokens {launch})")
            break
        if fits(parallel="fsdp", world_size=world, activation_checkpointing=True):
            tips.append(f"{what} needs FSDP over >= {world} {p.gpu_name}-{p.gpu_gib:g}GB at {p.tokens:,} tokens with "
                        f"activation checkpointing {launch} --set run.activation_checkpointing=true)")
            break
    if not p.activation_checkpointing and fits(activation_checkpointing=True):
        tips.append("or turn on activation checkpointing: --set run.activation_checkpointing=true")
    for tokens in (p.tokens // 2, p.tokens // 4, p.tokens // 8):
        if tokens and fits(tokens=tokens):
            tips.append(f"or lower the token budget: --set data.max_tokens={tokens} (and raise grad_accum)")
            break
    if p.judge is not None and fits(judge=None):
        tips.append("or drop the judge model: --set reward.rm=none (no preference score) or =live (warned)")
    return "; ".join(tips) if tips else f"{what} does not fit {p.gpu_name}-{p.gpu_gib:g}GB even with 64-way FSDP"


def model_config(spec: ModelSpec) -> MiniCPMVConfig:
    """The architecture a `ModelSpec` will build, without building it."""
    if spec.init:
        return MiniCPMVConfig.from_dict(json.loads((Path(spec.init) / CONFIG_NAME).read_text()))
    return CONFIGS[spec.preset]()


def plan_for(cfg: Any, world_size: int, device: torch.device) -> MemoryPlan:
    """The plan of a training config (`SFTConfig`, `RLConfig`, `DPOConfig`) on `world_size` ranks of `device`.

    SFT plans one `data.max_tokens` micro-batch at its freezing stage; RL and DPO train every parameter on
    `micro_batch_size` sequences (RL: of `grpo.max_new_tokens` response tokens plus a prompt budget of
    `data.max_tokens / 8`, plus the judge model (`judge_config`); DPO: chosen + rejected of
    `data.max_tokens / 8` each, a rough size).
    """
    run = cfg.run
    parallel = run.parallel if run.parallel != "auto" else ("ddp" if world_size > 1 else "none")
    gpu_gib, name = run.gpu_memory_gib, "GPU"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        gpu_gib, name = gpu_gib or props.total_memory / GIB, props.name.replace("NVIDIA ", "")
    if hasattr(cfg, "grpo"):
        stage, tokens = "all", cfg.grpo.micro_batch_size * (cfg.grpo.max_new_tokens + cfg.data.max_tokens // 8)
    elif hasattr(cfg, "dpo"):
        stage, tokens = "all", cfg.dpo.micro_batch_size * 2 * (cfg.data.max_tokens // 8)
    else:
        stage, tokens = cfg.freeze, cfg.data.max_tokens
    gpu_run = device.type == "cuda" or run.gpu_memory_gib > 0  # planning GPUs from a CPU machine: as on CUDA
    bf16 = run.precision == "bf16" or (run.precision == "auto" and gpu_run)
    return plan_memory(PlanInput(model_config(cfg.model), stage, world_size, parallel, bf16, tokens,
                                 activation_checkpointing=run.activation_checkpointing,
                                 logprob_chunk=run.logprob_chunk, gpu_gib=gpu_gib, gpu_name=name,
                                 judge=judge_config(cfg)))


def judge_config(cfg: Any) -> MiniCPMVConfig | None:
    """The architecture of an RL config's judge model (`reward.rm`: the policy's for "snapshot", a folder's
    own), or None when the judge is no model on the GPU ("live", "none", stand-ins, or not RL)."""
    rm = getattr(getattr(cfg, "reward", None), "rm", None)
    if rm == SNAPSHOT:
        return model_config(cfg.model)
    if rm is None or not Path(rm).is_dir():
        return None
    return model_config(ModelSpec(init=rm) if (Path(rm) / CONFIG_NAME).is_file() else ModelSpec(preset="full"))


def checked_plan(cfg: Any, env: DistEnv) -> MemoryPlan:
    """`plan_for` this run, its table logged on rank 0; `UserError` with advice when it will not fit."""
    plan = plan_for(cfg, env.world_size, env.device)
    if env.is_main:
        log.info("%s", plan.table())
    plan.check()
    return plan
