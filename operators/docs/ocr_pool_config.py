"""The `ocr.pool` knob: OCR in the shard tasks (the default), or on a pool of Ray actors, on GPUs or CPUs.

The operator itself never reads this config: the docs pipeline does (`pipelines.ocr_pool`), and with
`actors` > 0 hands `OcrRegions` a backend that sends the pages needing OCR to the pool. Rendering, text
layers, filters, samples and writing stay in the shard tasks either way, and the output is the same bytes
on the CPU provider (the actors run the very engine config the tasks would).
"""
from __future__ import annotations

from dataclasses import dataclass

from corpus.config_types import AT_LEAST_ONE, POSITIVE, bounded
from operators.docs.ocr_providers import Provider


@dataclass
class OcrPoolConfig:
    """How many OCR actors, what each reserves, and where their models run."""

    actors: int = 0  # 0: OCR inside each shard task; N > 0: N Ray actors serve every task's OCR
    provider: Provider = "cpu"  # "cuda": onnxruntime-gpu's CUDAExecutionProvider (extra: mmcorpus[gpu-ocr])
    num_gpus: float = 0.0  # GPUs each actor reserves (0.25: four actors share one GPU)
    num_cpus: float = bounded(1.0, POSITIVE)  # CPUs each actor reserves (pre/post-processing; all of it on "cpu")
    max_restarts: int = 2  # Ray restarts a dead actor this often, and retries the calls it was serving
    start_timeout_s: float = bounded(600.0, AT_LEAST_ONE)  # actors placed and models loaded within this, or the build stops
