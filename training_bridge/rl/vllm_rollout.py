"""Optional vLLM rollout engine (`rollout.engine: vllm`), the way verl and OpenRLHF generate at scale.

    engine = make_engine(cfg.rollout, model, processor, spec, device, precision)
    groups = engine.generate(prompts, n, caps, temperature, seeds)     # after each update: engine.sync(model)

vLLM serves MiniCPM-V 4.5 from a folder in the released layout (its `config.json`, tokenizer and code),
so the engine needs `model.official` (the released folder), CUDA, and the `vllm` package; it runs in this
process beside the actor with `vllm_gpu_memory_utilization` of the GPU. Prompts go in as token ids;
only text prompts so far (image prompts would need vLLM's own MiniCPM-V placeholders and slicing, and
are refused with a `UserError`). After each policy
update the actor's full weights (gathered from FSDP shards when sharded) are loaded into the engine, so
rollouts stay on-policy. Anything missing is a `UserError` naming what to install or set; the default
engine ("hf") needs none of it. Not exercised in CI (no GPU there): `benchmarks/gpu_check.py` reports
whether vLLM is importable on the GPU node.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from corpus.errors import UserError
from model.processor import MiniCPMVProcessor, ProcessedSample
from training_bridge.rl.batched_rollout import ActorRollout, Response
from training_bridge.train.train_config import ModelSpec, RolloutConfig

ENGINES = ("hf", "vllm")


def make_engine(cfg: RolloutConfig, model: torch.nn.Module, processor: MiniCPMVProcessor, spec: ModelSpec,
                device: torch.device, precision: str) -> Any:
    """The configured rollout engine; `model` is the (possibly FSDP-wrapped) bare `MiniCPMV` actor."""
    if cfg.engine == "hf":
        return ActorRollout(model, processor, device, precision)
    if cfg.engine != "vllm":
        raise UserError(f"rollout.engine must be one of {ENGINES}, not {cfg.engine!r}")
    if importlib.util.find_spec("vllm") is None:
        raise UserError("rollout.engine vllm needs the vllm package (pip install vllm on the GPU node), "
                        "or set rollout.engine: hf")
    if device.type != "cuda":
        raise UserError("rollout.engine vllm needs a CUDA GPU; on CPU use rollout.engine: hf")
    if not spec.official:
        raise UserError("rollout.engine vllm serves the released model layout: set model.official to the folder "
                        "of the released MiniCPM-V 4.5 (config.json, tokenizer, weights)")
    return VLLMRollout(cfg, spec.official, processor)


class VLLMRollout:
    """Rollouts from a vLLM engine in this process, weights synced from the actor (module docstring)."""

    def __init__(self, cfg: RolloutConfig, folder: str, processor: MiniCPMVProcessor) -> None:
        from vllm import LLM

        self.processor = processor
        self.llm = LLM(model=folder, trust_remote_code=True, dtype="bfloat16",
                       gpu_memory_utilization=cfg.vllm_gpu_memory_utilization, enable_prefix_caching=True)

    def generate(self, prompts: list[ProcessedSample], n: int, caps: list[int], temperature: float,
                 seeds: list[int]) -> list[list[Response]]:
        from vllm import SamplingParams

        eos = self.processor.tokenizer.token_id("<|im_end|>")
        requests, params = [], []
        for prompt, cap, seed in zip(prompts, caps, seeds):
            if prompt.pixel_values:
                raise UserError("rollout.engine vllm takes text-only prompts so far (image prompts need vLLM's own "
                                "MiniCPM-V placeholders); use rollout.engine: hf for image prompts")
            requests.append({"prompt_token_ids": prompt.input_ids.tolist()})
            params.append(SamplingParams(n=n, max_tokens=cap, temperature=temperature, top_k=-1, top_p=1.0, seed=seed,
                                         stop_token_ids=[eos], skip_special_tokens=False))
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        groups = []
        for out in outputs:
            group = []
            for completion in out.outputs:
                ids = list(completion.token_ids)
                done = completion.finish_reason == "stop"
                if done and (not ids or ids[-1] != eos):
                    ids.append(eos)
                group.append((ids, done))
            groups.append(group)
        return groups

    def sync(self, model: torch.nn.Module) -> None:
        """Load the actor's full weights into the engine (a collective under FSDP: every rank calls it)."""
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=False))
        runner = self.llm.llm_engine.model_executor.driver_worker.model_runner
        runner.model.load_weights((name, tensor.to(torch.bfloat16)) for name, tensor in state.items())

