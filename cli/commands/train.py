"""`mmcorpus train sft|rl|dpo`: the training stages on built corpora."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from cli.args import dump_yaml
from corpus.config import load_config

log = logging.getLogger(__name__)

TRAIN_HELP = """\
Train MiniCPM-V 4.5 (or its tiny CPU twin) on corpora built by `mmcorpus docs|images|videos build`.

  sft  next-token loss on assistant spans, short/long thinking templates, stage-wise freezing
       (freeze: resampler | vision | all), gradient accumulation, DDP or FSDP under torchrun
  rl   hybrid GRPO: a group of rollouts per prompt, each prompt in short or long mode; reward =
       accuracy (rule-based, or RLPR for free-form references) + format + repetition penalty +
       group-standardised preference score (long mode); no KL, no entropy term. The judge (reward.rm)
       defaults to "snapshot": a frozen copy of the policy taken at the start (one extra model copy per
       GPU); a checkpoint folder names another; "live" judges with the policy in training (warned).
       RLPR's std filter and every logged mean are computed over all ranks (the same keeps everywhere)
  dpo  RLAIF-V: sample responses, split into claims, verify, pair; then DPO against the initial policy

Every run writes OUT/metrics.jsonl, OUT/checkpoints/step-N/ (model, optimizer, scheduler, data position,
RNG; safetensors + JSON) and OUT/final/model (loadable as `model.init` of the next stage). Rerunning the
same command resumes from the newest checkpoint. Several GPUs:
  torchrun --nproc-per-node 8 -m cli.main train sft --config configs/train_sft.yaml
Every run first logs its per-GPU memory plan and refuses, with advice, a run that will not fit; see it
without training:
  mmcorpus train sft --plan --world-size 8 --set model.preset=full --set run.parallel=fsdp
      --set run.gpu_memory_gib=80 --set run.activation_checkpointing=true   (one command line)
"""

EPILOG = """\
configuration:
  Defaults < --config FILE (YAML, same nesting as --print-config) < --set key.path=value.
  Example: mmcorpus train sft --config configs/train_sft.yaml --set run.steps=100 --set freeze=resampler
"""


def _config_class(stage: str):
    from training_bridge.train.train_config import DPOConfig, RLConfig, SFTConfig

    return {"sft": SFTConfig, "rl": RLConfig, "dpo": DPOConfig}[stage]


def _run(args: argparse.Namespace) -> int:
    cfg = load_config(_config_class(args.stage), args.config, args.overrides)
    if args.print_config:
        sys.stdout.write(dump_yaml(cfg))
        return 0
    if args.plan:
        import torch

        from training_bridge.train.memory_plan import advice, plan_for

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        plan = plan_for(cfg, args.world_size, device)
        sys.stdout.write(plan.table() + "\n" + ("" if plan.fits else advice(plan.inputs) + "\n"))
        return 0 if plan.fits else 2
    if args.stage == "sft":
        from training_bridge.train.sft import train_sft

        result = train_sft(cfg)
        t = result.throughput
        log.info("sft done: %d steps, last loss %.4f, data-wait fraction %.3f, weights in %s",
                 len(result.losses), result.losses[-1] if result.losses else float("nan"),
                 t.wait_fraction if t else 0.0, result.final_model)
    elif args.stage == "rl":
        from training_bridge.rl.grpo import train_rl

        result = train_rl(cfg)
        if result.history:
            log.info("rl done: %d steps, last mean reward %.4f, weights in %s", len(result.history),
                     result.history[-1].reward, result.final_model)
    else:
        from training_bridge.rl.dpo import train_dpo

        result = train_dpo(cfg)
        if result.history:
            log.info("dpo done: %d pairs, %d steps, last margin %.4f, weights in %s", result.pairs,
                     len(result.history), result.history[-1].margin, result.final_model)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `train sft`, `train rl` and `train dpo`."""
    train = sub.add_parser("train", help="SFT, hybrid RL and RLAIF-V DPO on built corpora", description=TRAIN_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = train.add_subparsers(dest="train_command", required=True, metavar="STAGE")
    for stage, text in (("sft", "supervised fine-tuning"), ("rl", "hybrid GRPO"), ("dpo", "RLAIF-V pairs + DPO")):
        p = tsub.add_parser(stage, help=text, description=TRAIN_HELP, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", metavar="FILE", help="YAML config file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override one config value (repeatable)")
        p.add_argument("--print-config", action="store_true", help="print the effective config as YAML and exit")
        p.add_argument("--plan", action="store_true",
                       help="print the per-GPU memory plan (parameters, gradients, optimizer state, activations) "
                            "and exit: 0 if it fits run.gpu_memory_gib (or this machine's GPU), else 2 with advice")
        p.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", "1")), metavar="N",
                       help="ranks to plan for with --plan (default: $WORLD_SIZE or 1)")
        p.set_defaults(func=_run, stage=stage)
