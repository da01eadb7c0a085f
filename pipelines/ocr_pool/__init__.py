"""OCR on a pool of Ray actors (`ocr.pool`): GPUs where a cluster has them, the same path on CPUs.

`start_pool` (`pipelines.ocr_pool.pool`) starts the actors (`pipelines.ocr_pool.actor`) and returns the
picklable backend (`pipelines.ocr_pool.backend`) that `PooledOcrRegions` (`pipelines.ocr_pool.operator`)
uses in the shard tasks; `stop_pools` ends them when the build does.
"""
