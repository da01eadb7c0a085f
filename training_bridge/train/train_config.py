"""Dataclass configs of the three training commands: SFT, hybrid RL (GRPO) and RLAIF-V + DPO.

Each top-level config (`SFTConfig`, `RLConfig`, `DPOConfig`) loads from YAML with overrides through
`corpus.config.load_config(cls, path, ["a.b=value", ...])`; unknown keys are errors. Defaults follow
the paper (§2.2-2.4, Appendix A) where the paper gives a number, and are marked *[ours]* where it does not.
Sections shared by all three: `model` (what to build or load), `data` (which corpora, how to batch: `training_bridge.data.config.DataConfig`),
`optim` (AdamW and the LR schedule) and `run` (steps, parallelism, precision, logging, checkpoints).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from training_bridge.data.config import DataConfig

SNAPSHOT, LIVE = "snapshot", "live"  # the policy as judge: a frozen copy taken at the start | the weights in training


@dataclass
class ModelSpec:
    """Which model to train and how its inputs are processed.

    Weights come from `init` (a checkpoint written by `model.checkpoint.save_checkpoint` or a training
    run's `final/model`), else from `official` (released MiniCPM-V 4.5 weights, local folder) loaded into
    `preset`, else a fresh `preset` initialised from `run.seed`.
    """

    preset: str = "tiny"  # a key of model.config.CONFIGS
    init: str | None = None
    official: str | None = None
    tokenizer: str | None = None  # local tokenizer folder; None: `official`'s (or `init`'s) folder; byte ids for tiny only
    max_slice_nums: int | None = None  # processor override (published: 9); 1 keeps CPU runs cheap
    # LLM attention: sdpa (a packed row as one masked T x T square), sdpa_packed (one causal square per sample:
    # skips what the mask removes, `model/packed_attention.py`), flash_attention_2 (when installed); None: the
    # model's own (a preset: sdpa; a checkpoint: what it was saved with)
    attention: str | None = None


@dataclass
class OptimConfig:
    """AdamW over the trainable parameters and the LR schedule (per optimizer step).

    `schedule`: "constant"; "cosine" (warmup, then cosine from `lr` to `min_lr` over the remaining steps,
    as SFT-1); "wsd" (warmup-stable-decay, as PT-3: `lr` until the last `decay_steps`, then linear to
    `min_lr`).
    """

    lr: float = 1e-5
    min_lr: float = 1e-6
    schedule: str = "cosine"
    warmup_steps: int = 0
    decay_steps: int = 0
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; <= 0 disables clipping
    fused: bool = True  # the fused AdamW kernel when every parameter is on CUDA (ignored on CPU)


@dataclass
class TrainRun:
    """The loop around the steps: length, parallelism, precision, logs and checkpoints."""

    out_dir: str = "runs/train"
    steps: int = 1000
    seed: int = 0
    parallel: str = "auto"  # "auto" (DDP when launched with torchrun on >1 process) | "none" | "ddp" | "fsdp"
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 on CPU) | "bf16" | "fp32"
    log_every: int = 10
    save_every: int = 500  # also saved at the last step; 0: only at the last step
    keep_checkpoints: int = 2
    resume: bool = True  # continue from the newest checkpoint in out_dir when there is one
    progress: bool = True
    cpu_threads: int = 0  # torch intra-op threads; 0: torch's default (1 is fastest on a busy shared CPU)
    activation_checkpointing: bool = False  # recompute each LLM / vision layer in the backward pass
    reduce_dtype: str = "fp32"  # FSDP gradient reduction dtype: "fp32" | "bf16" (parameters stay fp32 masters)
    logprob_chunk: int = 1024  # positions per chunk of the LM head + log-softmax (never full logits)
    gpu_memory_gib: float = 0.0  # per-GPU memory the plan checks against; 0: the device's (none on CPU)


@dataclass
class SFTConfig:
    """`mmcorpus train sft`: next-token loss on assistant spans (the released chat template)."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: TrainRun = field(default_factory=lambda: TrainRun(out_dir="runs/sft"))
    freeze: str = "all"  # training stage: "resampler" (PT-1) | "vision" (PT-2) | "all" (PT-3, SFT); see freezing.py
    grad_accum: int = 1  # micro-batches per optimizer step


@dataclass
class TaskConfig:
    """RL and RLAIF prompts derived from corpus records (`training_bridge.rl.prompts`).

    kinds (`rl/prompts.py`): "region_text" (OCR / reconstruct / masked targets) and "caption_qa" (caption and QA
    records), the defaults: answers checkable from the image, rule-based in short mode, RLPR in long mode;
    "transcribe"; "record" (any record's own question and answer, for RLAIF-V sampling); "region_count"
    and "page_number" reward guessing: opt-in only, warned in the run manifest.
    """

    kinds: list[str] = field(default_factory=lambda: ["region_text", "caption_qa"])
    max_prompts: int | None = None  # per rank, after reading the corpus once


@dataclass
class GRPOConfig:
    """Hybrid GRPO (paper §2.4): no KL, no entropy term; mode chosen per prompt."""

    prompts_per_step: int = 128
    group_size: int = 8
    long_fraction: float = 0.5  # share of prompts rendered in long (thinking) mode
    max_new_tokens: int = 8192  # long mode, as the paper
    max_new_tokens_short: int = 1024  # [ours]
    temperature: float = 1.0
    clip_low: float = 0.2  # [ours]: ratio clipped to [1 - clip_low, 1 + clip_high]
    clip_high: float = 0.2  # [ours]
    epochs: int = 1  # [ours]: passes over each step's rollouts
    minibatches: int = 1  # [ours]: optimizer steps per pass
    micro_batch_size: int = 8  # rollouts per forward/backward (gradient accumulation)
    loss_agg: str = "token"  # [ours]: "token" (mean over all response tokens) | "sequence" (mean of means)


@dataclass
class RolloutConfig:
    """How RL rollouts are generated (`training_bridge.rl.batched_rollout`, `training_bridge.rl.vllm_rollout`)."""

    engine: str = "hf"  # "hf": batched KV-cache decoding with the actor itself | "vllm": a vLLM engine (CUDA + vllm)
    batch_prompts: int = 16  # prompts decoded together (each with its group of responses)
    vllm_gpu_memory_utilization: float = 0.35  # vLLM's share of the GPU beside the actor


@dataclass
class RewardConfig:
    """R = acc + format + repetition + rm_weight * group-standardised RM score (long mode only).

    `rm`, the judge of the preference score (`rl/judges.py`): "snapshot" (default) a frozen copy of the policy
    taken when RL starts, never updated: costs one extra model copy per GPU (bf16 in bf16 runs; in the memory
    plan); a vision-language checkpoint folder (frozen the same way, in the plan at its size); "live" the policy being trained judges itself (a feedback
    loop, warned); "none"; text-only stand-ins by name (warned): "overlap" | "text:DIR".
    `std_filter`: RLPR's filter of free-form groups whose RLPR reward std is below the threshold, an EMA of the
    mean RLPR group std over all ranks; its decisions and threshold are the same on every rank, and the
    threshold is checkpointed (`rl/std_filter.py`).
    """

    format_weight: float = 0.5  # [ours] scale of the 0/1 format check
    repetition_weight: float = 1.0  # [ours] scale of the penalty in [-1, 0]
    repetition_ngram: int = 4  # [ours] token n-grams counted as repeats
    rm_weight: float = 0.5  # paper: 0.5
    rm: str = SNAPSHOT  # "snapshot" (+1 model copy) | VLM checkpoint folder | "live" (warned) | "none" | stand-ins
    std_filter: bool = True  # RLPR: drop free-form groups whose RLPR std is below the threshold (all ranks agree)
    std_filter_momentum: float = 0.99  # RLPR: EMA momentum of the threshold (mean RLPR std of all ranks' groups)
    short_free_form: str = "similarity"  # [ours] free-form prompts in short mode (no reasoning to debias): "similarity" | "none"


@dataclass
class RLConfig:
    """`mmcorpus train rl`: hybrid GRPO from an SFT checkpoint."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-6, schedule="constant"))
    run: TrainRun = field(default_factory=lambda: TrainRun(out_dir="runs/rl", save_every=50))
    tasks: TaskConfig = field(default_factory=TaskConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)


@dataclass
class RLAIFConfig:
    """RLAIF-V preference data: sample, split into claims, verify, pair (paper §2.4)."""

    responses_per_prompt: int = 8  # [ours]
    max_new_tokens: int = 512  # [ours]
    temperature: float = 1.0
    thinking: bool = False  # sample in long mode; claims come from the final answer either way
    # yes/no claim judge on the image: "snapshot" (the initial policy: every pair is judged before the first update,
    # so no copy) | a VLM checkpoint folder; text-only stand-in: "overlap"
    verifier: str = SNAPSHOT
    reject_below: float = 0.5  # a claim scoring below this counts as rejected
    min_gap: float = 1.0  # [ours] least difference of response scores (-rejected claims) for a pair
    pairs_per_prompt: int = 2  # [ours]


@dataclass
class DPOLossConfig:
    """DPO against a frozen copy of the initial policy (paper: beta 0.1, batch 256, 400 steps)."""

    beta: float = 0.1
    batch_size: int = 256  # pairs per optimizer step
    micro_batch_size: int = 4  # pairs per forward/backward


@dataclass
class DPOConfig:
    """`mmcorpus train dpo`: RLAIF-V pairs, then DPO."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-6, schedule="constant"))
    run: TrainRun = field(default_factory=lambda: TrainRun(out_dir="runs/dpo", steps=400, save_every=100))
    tasks: TaskConfig = field(default_factory=lambda: TaskConfig(kinds=["record"]))
    rlaif: RLAIFConfig = field(default_factory=RLAIFConfig)
    dpo: DPOLossConfig = field(default_factory=DPOLossConfig)
