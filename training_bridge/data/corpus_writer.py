"""Write ready sink rows as a corpus in the built layout (tars, stats, manifest), without a pipeline.

`write_rows(out_dir, shards, prefix, pipeline)` takes one list of rows per shard (the rows a pipeline's
sample writer makes: `key`, `members`, ...) and writes them through the project's sink
(`corpus.sink.ShardWriter`), then the manifest, so the loader reads the result as any built corpus.
Used for corpora derived on the training side (RL task corpora) and by the synthetic test corpora.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from corpus.manifest import Manifest
from corpus.sink import ShardWriter, prepare_dirs

#: The manifest's assignment of rows written directly: no inputs were assigned to shards.
WRITTEN = "written"


def write_rows(out_dir: Path, shards: list[list[dict[str, Any]]], prefix: str, pipeline: str,
               assignment: str = WRITTEN) -> None:
    """Write sink rows, one list per shard (shard id = list position), through `ShardWriter`, then the manifest."""
    prepare_dirs(out_dir)
    manifest = Manifest(pipeline=pipeline, prefix=prefix, assignment=assignment, inputs_per_shard=0,
                        n_inputs=sum(len(rows) for rows in shards))
    for shard_id, rows in enumerate(shards):
        writer = ShardWriter(out_dir, prefix, shard_id, pipeline)
        for row in rows:
            writer.add(row)
        res = writer.close()
        manifest.shards[res.name] = {"shard_id": shard_id, "tar": f"{res.name}.tar" if res.samples else None,
                                     "samples": res.samples, "errors": res.errors, "bytes": res.bytes,
                                     "inputs": len(res.input_ids)}
    manifest.save(out_dir)
