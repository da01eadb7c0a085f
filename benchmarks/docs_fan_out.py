"""A build with fewer shards than CPUs: pages/s with the shard's inputs fanned out to piece tasks
(`run.fan_out`, the default) against the same build with one task per shard, same run, interleaved.

The corpus is `--shards` shards of 16 documents of 16 pages (the docs default shard size), built on
local Ray with `--num-cpus` CPUs; with fewer shards than CPUs, one task per shard leaves CPUs idle.
With `--one-document` the shard is one 256-page PDF, cut between its 8-page ranges. Prints both rates,
their ratio, CPU ms per page and whether the two builds' tars are byte-identical (they must be).

    python benchmarks/docs_fan_out.py --shards 1 --num-cpus 2
    python benchmarks/docs_fan_out.py --one-document
"""
from __future__ import annotations

import argparse
import filecmp
import logging
import tempfile
import time
from pathlib import Path

import pymupdf
from cpu_time import cpu_between, tree_cpu_seconds
from docs_throughput import make_inputs

from operators.docs.page_signature import NO_DEDUP  # the inputs repeat pages on purpose
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig

log = logging.getLogger("docs_fan_out")
DOCS_PER_SHARD = 16


def merge_into_one(paths: list[Path]) -> Path:
    """`paths` replaced by one PDF of all their pages, in order."""
    book = pymupdf.open()
    for p in paths:
        book.insert_pdf(pymupdf.open(p))
        p.unlink()
    out = paths[0].with_name("book.pdf")
    book.save(out, no_new_id=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=1, help="shards of 16 documents (16 pages each)")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repetitions; the best of each is kept")
    ap.add_argument("--one-document", action="store_true",
                    help="all documents merged into one PDF (one shard): the fan-out cuts between its page ranges")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_inputs(root, args.shards * DOCS_PER_SHARD, merge=True)
        if args.one_document:
            paths = [merge_into_one(paths)]
        pages = 16 * args.shards * DOCS_PER_SHARD

        def build(fan_out: bool, out: str) -> tuple[float, float]:
            cfg = DocsConfig(dedup=NO_DEDUP, run=RunConfig(num_cpus=args.num_cpus, inputs_per_shard=DOCS_PER_SHARD,
                                                           progress=False, fan_out=fan_out))
            before, start = tree_cpu_seconds(), time.perf_counter()
            build_docs([str(root / "inputs")], root / out, cfg)
            return time.perf_counter() - start, cpu_between(before, tree_cpu_seconds())

        build(True, "warm-a")  # Ray start-up and the piece workers' imports are not throughput
        build(False, "warm-b")
        runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for rep in range(args.repeats):
            for fan_out in (False, True):
                runs[fan_out].append(build(fan_out, f"{'fan' if fan_out else 'one'}-{rep}"))
            log.warning("rep %d: one task per shard %.1f, fanned out %.1f pages/s", rep, pages / runs[False][-1][0],
                        pages / runs[True][-1][0])
        same = all(filecmp.cmp(a, root / "fan-0" / a.relative_to(root / "one-0"), shallow=False)
                   for a in sorted((root / "one-0" / "shards").iterdir()))
    (one_s, one_cpu), (fan_s, fan_cpu) = min(runs[False]), min(runs[True])
    print(f"pages: {pages} in {len(paths)} document(s), {args.shards} shard(s), {args.num_cpus} CPUs")
    print(f"{'one task per shard':32s} {pages / one_s:8.1f} pages/s  CPU {1000 * one_cpu / pages:.2f} ms/page")
    print(f"{'fanned out to piece tasks':32s} {pages / fan_s:8.1f} pages/s  CPU {1000 * fan_cpu / pages:.2f} ms/page")
    print(f"{'ratio (wall clock)':32s} {one_s / fan_s:8.2f}x")
    print(f"shard tars byte-identical: {same}")


if __name__ == "__main__":
    main()
