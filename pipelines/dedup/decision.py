"""The distributed dedup decision over signature files, shared by pages and images: the measured links.

`measured_links(files, own_from, knobs, banding, measure, values_per_task)`:
1. every file's footer must name `knobs` (else UserError: signatures made otherwise are not comparable);
2. bucket tasks (`operators.dedup.buckets.bucket_edges`), one per partition of the band values, as many
   as keep a task under `values_per_task` values: candidate (member, partner, kind) links;
3. links whose member is in another corpus's files (the first `own_from`) are dropped: those are kept;
4. verify tasks, one per file with members (`operators.dedup.verify.verify_edges`): the links measured,
   with the two items' keys.
The driver holds candidate links and the keys of linked items, never the signatures; the kind's keep rule
(`operators.docs.dedup_decision.resolve`, `operators.images.dedup.resolve_first_kept`) runs on the result.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from corpus.errors import UserError
from operators.dedup.buckets import Banding, bucket_edges
from operators.dedup.verify import Edge, Measure, verify_edges
from pipelines.dedup.signatures import SignatureFile, file_facts, read_signatures

log = logging.getLogger(__name__)


def measured_links(files: list[SignatureFile], own_from: int, knobs: str, banding: Banding, measure: Measure,
                   values_per_task: int) -> list[Edge]:
    """Steps 1-4 of the module docstring over `files` (the first `own_from` of other corpora)."""
    import ray

    facts, bucket, verify = ray.remote(file_facts), ray.remote(bucket_edges), ray.remote(verify_edges)
    found_facts = ray.get([facts.remote(f) for f in files])
    for f, (_, made_with, _) in zip(files, found_facts):
        if made_with != knobs:
            raise UserError(f"{f[0].child(f[1])} holds signatures made with {made_with or 'unknown knobs'}, this "
                            f"build's are {knobs}: build that corpus again with these dedup knobs, or use its")
    items = sum(n for n, _, _ in found_facts)
    parts = max(1, math.ceil(items * (banding.bands + banding.exact) / values_per_task))
    found = ray.get([bucket.remote(read_signatures, files, banding, p, parts) for p in range(parts)])
    edges = np.unique(np.concatenate(found), axis=0) if found else np.empty((0, 3), np.int64)
    edges = edges[(edges[:, 0] >> 32) >= own_from]  # items of another corpus are never dropped
    member_file = edges[:, 0] >> 32
    verified: list[Edge] = []
    for part in ray.get([verify.remote(read_signatures, files, int(f), edges[member_file == f], measure)
                         for f in np.unique(member_file)]):
        verified += part
    log.info("dedup: %d items in %d files, %d bucket tasks, %d candidate links", items, len(files), parts, len(edges))
    return verified
