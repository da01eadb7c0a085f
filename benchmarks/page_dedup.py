"""The page-dedup stage alone at scale: signatures and the decision over synthetic pages of text, on Ray.

Pages are generated inside the signature tasks (Zipf text over a 20,000-word vocabulary, `--words` words a
page), `--shard-pages` pages a shard, each shard's signatures written to DIR/dedup/pages/ exactly as a
docs build does (`pipelines.dedup.pages.write_signatures`); then `pipelines.dedup.pages.decide` runs the Ray
decision over them. Planted: from the second shard on, every 20th page repeats a page of the shard
before exactly, every 20th (offset 10) with 5 words changed. Printed: pages/s of each step, the duplicates found
against the planted ones, and the peak resident memory of the driver and of the largest Ray worker
(sampled 5 times a second). Memory is bounded by the shard and `dedup.values_per_task`, not the
corpus: compare `--pages 100000` with `--pages 1000000`.

    python benchmarks/page_dedup.py --pages 1000000 --num-cpus 2
"""
from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_memory import PeakRss  # noqa: E402

from corpus.storage import Store
from operators.docs.page_signature import PageDedupConfig, signature, signature_row
from pipelines.dedup.pages import SIGNATURES, decide, write_signatures
from pipelines.engine.ray_runtime import init_ray

VOCAB = [f"w{r}" for r in range(20_001)]


def page_text(page: int, words: int, back: int) -> str:
    """Page `page` of the synthetic corpus: a planted repeat of a page about `back` pages earlier, or its
    own Zipf text; a function of its arguments only."""
    if page >= back and page % 20 in (0, 10):
        src = page_text(page - back + 1 + page % 7, words, back)
        if page % 20 == 0:
            return src
        out = src.split()
        for i in np.random.default_rng(page).choice(len(out), 5, replace=False):
            out[i] = f"changed{i}"
        return " ".join(out)
    ranks = np.minimum(np.random.default_rng(page).zipf(1.2, words), len(VOCAB) - 1)
    return " ".join([VOCAB[r] for r in ranks.tolist()])


def planted(pages: int, back: int) -> int:
    return sum(1 for p in range(back, pages) if p % 20 in (0, 10))


def sign_synthetic(store: Store, rel: str, first: int, count: int, words: int, cfg: PageDedupConfig) -> float:
    """One shard's signature file from its generated pages; returns seconds spent generating text."""
    start = time.perf_counter()
    texts = [(f"doc-{p // 100:08d}", p % 100, page_text(p, words, count)) for p in range(first, first + count)]
    gen = time.perf_counter() - start
    write_signatures(store, rel, [signature_row(i, p, s) for i, p, t in texts if (s := signature(t, cfg))], cfg)
    return gen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1_000_000)
    ap.add_argument("--shard-pages", type=int, default=20_000)
    ap.add_argument("--words", type=int, default=300)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--out", help="folder for the signature files (default: a temporary one)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import ray

    init_ray(None, args.num_cpus)
    cfg = PageDedupConfig()
    store = Store.of(args.out or tempfile.mkdtemp(prefix="page-dedup-"))
    task = ray.remote(sign_synthetic)
    shards = range(0, args.pages, args.shard_pages)
    files = [(store, f"{SIGNATURES}/bench-{i:06d}.parquet") for i in range(len(shards))]
    with PeakRss(interval=0.2) as peak:
        t0 = time.perf_counter()
        gen = sum(ray.get([task.remote(store, f[1], first, min(args.shard_pages, args.pages - first), args.words, cfg)
                           for f, first in zip(files, shards)]))
        t1 = time.perf_counter()
        dups = decide(files, 0, cfg)
        t2 = time.perf_counter()
    sign_s = t1 - t0 - gen / args.num_cpus  # text generation is not the stage's work
    want = planted(args.pages, args.shard_pages)
    print(f"pages {args.pages:,} in {len(files)} shards of {args.shard_pages:,}, {args.words} words a page, "
          f"{args.num_cpus} CPUs")
    print(f"signatures: {t1 - t0:.1f} s wall ({gen:.1f} s of it generating text, in tasks), "
          f"{args.pages / sign_s:,.0f} pages/s without generation")
    print(f"decision: {t2 - t1:.1f} s, {args.pages / (t2 - t1):,.0f} pages/s; duplicates {len(dups):,} "
          f"(exact {sum(d.kind == 'exact' for d in dups):,}), planted {want:,}")
    print(f"stage: {args.pages / (sign_s + t2 - t1):,.0f} pages/s; peak RSS driver "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, largest worker {peak.peak_worker / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
