"""Samples/s the training bridge delivers as collated batches, against a raw webdataset decode loop.

Both read the same shards with the same number of DataLoader workers in the same run:

- `webdataset`: `WebDataset(shards).decode("pil")` (split by worker, no shuffle), samples counted as they
  arrive; JPEG and JSON decoded, nothing else: the floor a trainer would start from.
- `bridge`: `BridgeLoader` with shuffle buffer, safe tar parsing, decode, `ByteTransform` (text bytes as ids,
  pixels as uint8 tensors), token-budget batching and padding collate.
- `bridge, text ids`: the same with a processor that only tokenizes (images decoded, not copied to tensors).

Repetitions are interleaved and the best of each is kept; the table gives each rate and its ratio to the
floor. `--step-ms` adds a simulated training step and reports the fraction of wall time spent waiting for
data (`meter.metered_steps(batches, train_step, steps, counts)` is the hook: a trainer passes its real step).

    python benchmarks/bridge_throughput.py --workers 2                 # synthetic 512x384 image corpus
    python benchmarks/bridge_throughput.py --kind video --samples 800  # synthetic videos: 3 frames in one mp4
    python benchmarks/bridge_throughput.py --corpus /data/docs_corpus --workers 4 --step-ms 50
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import webdataset as wds
from torch.utils.data import DataLoader

from corpus.index import CorpusIndex
from schemas.record import SampleRecord
from training_bridge.data.collate import batch_counts
from training_bridge.data.config import DataConfig
from training_bridge.data.loader import BridgeLoader
from training_bridge.data.synthetic import write_corpus
from training_bridge.data.transform import ByteTransform, SampleTransform
from training_bridge.train.meter import metered_steps

log = logging.getLogger("bridge_throughput")


def text_ids(record: SampleRecord, images: list) -> dict[str, torch.Tensor]:
    """Conversation bytes as ids only; the images were decoded and are dropped."""
    text = "".join(f"{t.role}: {t.content}\n" for t in record.conversations).encode("utf-8")
    return {"input_ids": torch.frombuffer(bytearray(text), dtype=torch.uint8).long()}


def raw_webdataset(urls: list[str], workers: int) -> tuple[int, float]:
    """(samples, seconds) of a plain webdataset decode loop over `urls`."""
    ds = wds.WebDataset(urls, shardshuffle=False, workersplitter=wds.split_by_worker, empty_check=False).decode("pil")
    start, n = time.perf_counter(), 0
    for sample in DataLoader(ds, batch_size=None, num_workers=workers):
        n += 1
    return n, time.perf_counter() - start


def bridge(corpus: str, workers: int, processor: SampleTransform, max_tokens: int) -> tuple[int, float]:
    """(samples, seconds) of one epoch of the bridge loader, counting samples in collated batches."""
    loader = BridgeLoader(DataConfig(corpora=[corpus], max_tokens=max_tokens, num_workers=workers),
                          transform=processor, epochs=1)
    start, n = time.perf_counter(), 0
    for batch in loader:
        n += batch_counts(batch)[0]
    if loader.failures:
        log.warning("bridge skipped samples: %s", dict(loader.failures))
    return n, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", help="a built corpus folder or URL; default: a synthetic image corpus")
    ap.add_argument("--samples", type=int, default=2400, help="synthetic corpus: samples (in 8 shards)")
    ap.add_argument("--size", type=int, nargs=2, default=(512, 384), help="synthetic corpus: image width height")
    ap.add_argument("--kind", choices=("image", "video"), default="image", help="synthetic corpus: one image or "
                    "one video (3 frames) per sample")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--step-ms", type=float, default=0.0, help="simulated training step for the data-wait fraction")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            corpus = str(Path(tmp) / "corpus")
            per_shard = [args.samples // 8 + (i < args.samples % 8) for i in range(8)]
            write_corpus(Path(corpus), per_shard, kind=args.kind, size=tuple(args.size))
        urls = CorpusIndex.load(corpus).shard_urls
        runs: dict[str, Callable[[], tuple[int, float]]] = {
            "webdataset decode": lambda: raw_webdataset(urls, args.workers),
            "bridge": lambda: bridge(corpus, args.workers, ByteTransform(), args.max_tokens),
            "bridge, text ids": lambda: bridge(corpus, args.workers, text_ids, args.max_tokens),
        }
        best: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, run in runs.items():
                n, seconds = run()
                counts[name] = n
                best[name] = max(best.get(name, 0.0), n / seconds)
        floor = best["webdataset decode"]
        print(f"{len(urls)} shards, {counts['webdataset decode']} samples, {args.workers} workers, "
              f"best of {args.repeats}")
        print(f"{'loader':<20} {'samples':>8} {'samples/s':>10} {'ratio':>6}")
        for name, rate in best.items():
            print(f"{name:<20} {counts[name]:>8} {rate:>10.1f} {rate / floor:>6.2f}")

        if args.step_ms:
            loader = BridgeLoader(DataConfig(corpora=[corpus], max_tokens=args.max_tokens, num_workers=args.workers))
            t = metered_steps(iter(loader), lambda batch: time.sleep(args.step_ms / 1000), 100, batch_counts)
            print(f"simulated {args.step_ms:.0f} ms steps: {t.samples_per_s:.1f} samples/s, "
                  f"{t.tokens_per_s:.0f} tokens/s, data wait {t.wait_fraction:.1%} of wall time")


if __name__ == "__main__":
    main()
