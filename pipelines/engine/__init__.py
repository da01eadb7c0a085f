"""The one build engine every corpus pipeline runs on: plan → execute → record, under the build lock.

`run.run_build` is the entry; `plan` (inputs → shards, what is done), `execute` (Ray tasks, pieces,
retries: `shard_task`, `pieces`, `ray_runtime`), `record` (manifest, summary, `operator_stats`) are the
three steps, each calling only downward. A pipeline declares itself once with `pipeline.Pipeline`.
"""
