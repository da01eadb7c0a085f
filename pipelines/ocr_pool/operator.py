"""`OcrRegions` on the pool: the operator the docs build runs in its shard tasks when `ocr.pool.actors` > 0.

Contract: `PooledOcrRegions(PooledOcr(config, backend))` is `OcrRegions(config, backend)` (same columns,
stage "ocr", gates, layer check and error rows), made from one picklable config as `Chain` makes every
operator (`op(config)`), so the pool's backend reaches each task inside the build's steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from pipelines.ocr_pool.backend import PooledOcrBackend


@dataclass
class PooledOcr:
    """The operator's config and the pool backend its OCR goes to."""

    config: OcrRegionsConfig
    backend: PooledOcrBackend


class PooledOcrRegions(OcrRegions):
    """`OcrRegions` whose OCR runs on the pool's actors; see the module docstring."""

    def __init__(self, config: PooledOcr) -> None:
        super().__init__(config.config, backend=config.backend)
