"""The streaming dataset: one (rank, worker)'s share of every corpus → decoded, processed, batched samples.

Per epoch, each consumer `c = rank * num_workers + worker` (of `world_size * num_workers`) reads its pieces
of every corpus (`shards.partition`), mixes the corpora by weight (`mixing`), shuffles
through a buffer (`order.shuffled`), then per sample: parse the tar range (`tar_members`), decode
(`decode`), transform (`transform`), and form batches under the token budget (`collate.TokenBudget`).

Every random choice comes from generators seeded by `(seed, epoch, consumer)`, so the stream is a pure
function of the corpora, the `DataConfig`, the epoch and the worker layout. A worker yields
`(batch, Progress)`; `Progress.position` counts the samples of its epoch order that the delivered batches
have consumed (kept, failed or skipped), which is all a resume needs: the stream replays the order
without I/O up to that position and fetches only the samples then sitting in the shuffle buffer.
Samples that fail anywhere before collation are counted by reason, logged, and skipped; `(None,
Progress)` reports failures at the end of a worker's epoch when no batch is left to carry them.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from corpus.index import CorpusIndex
from corpus.range_reader import RangeReader
from corpus.tar_members import SampleError, parse_members
from training_bridge.data.collate import Collate, TokenBudget, pad_collate
from training_bridge.data.config import DataConfig
from training_bridge.data.decode import decode_sample
from training_bridge.data.mixing import MIX_WEIGHTS, interleave, quotas
from training_bridge.data.order import READ, shuffled
from training_bridge.data.partition import Piece, partition
from training_bridge.data.transform import ByteTransform, SampleTransform

log = logging.getLogger(__name__)

#: Failures per reason logged at WARNING by each worker before it logs them at DEBUG only.
LOUD_FAILURES = 5

Item = tuple[int, int]  # (source number, corpus-wide sample number)


@dataclass
class Progress:
    """Sent by a worker with each batch: how far its epoch order the delivered batches reach."""

    worker: int  # logical worker number
    position: int  # samples of the worker's order consumed, including failed ones
    samples: int = 0
    tokens: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # since the previous Progress of this worker
    skipped: dict[int, int] = field(default_factory=dict)  # the same failures by source number


def derived_seed(*parts: int) -> int:
    """A 64-bit seed from integers, via numpy's SeedSequence (no Python hash randomisation)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, np.uint64)[0])


def _passes(pieces: list[Piece]) -> Iterator[int]:
    """The sample numbers of `pieces` in order, pass after pass (a corpus weighted above its size repeats)."""
    while True:
        yield from chain.from_iterable(range(p.start, p.stop) for p in pieces)


class ShardStream(IterableDataset):
    """IterableDataset of `(batch | None, Progress)` for one rank; see the module docstring.

    The loader sets the epoch, each logical worker's start position, and `rotation` (which logical
    worker DataLoader's physical worker 0 plays) before creating each DataLoader iterator.
    """

    def __init__(self, config: DataConfig, indexes: list[CorpusIndex], rank: int, world_size: int,
                 transform: SampleTransform | None = None, collate: Collate | None = None, *, pad_id: int = 0,
                 length_key: str = "input_ids") -> None:
        self.weights = [src.weight for src in config.sources()]
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        if len(indexes) != len(self.weights):
            raise ValueError("one index per source")
        self.config, self.indexes, self.rank, self.world_size = config, indexes, rank, world_size
        self.length_key = length_key  # transform output whose length is the sample's token count
        self.decode = config.decode
        self.transform = transform or ByteTransform()
        self.collate = collate or partial(pad_collate, pad_id=pad_id, length_key=length_key)
        self.epoch, self.rotation = 0, 0
        self.starts: list[int] = []

    def set_epoch_state(self, epoch: int, starts: list[int], rotation: int) -> None:
        self.epoch, self.starts, self.rotation = epoch, list(starts), rotation

    # -- the plan ----------------------------------------------------------------------------------------------
    def pieces(self, worker: int, num_workers: int) -> list[list[Piece]]:
        """Per source, the pieces logical `worker` of this rank reads this epoch."""
        consumers = self.world_size * num_workers
        consumer = self.rank * num_workers + worker
        return [partition(idx, self.config.seed, self.epoch, s, consumers)[consumer]
                for s, idx in enumerate(self.indexes)]

    def samples_per_epoch(self, num_workers: int) -> int:
        """Samples this rank reads per epoch (before failures), the same every epoch."""
        consumers = self.world_size * num_workers
        lo, hi = self.rank * num_workers, (self.rank + 1) * num_workers
        return sum(hi * i.n_samples // consumers - lo * i.n_samples // consumers for i in self.indexes)

    def _counts(self, pieces: list[list[Piece]]) -> list[int]:
        lengths = [sum(len(p) for p in ps) for ps in pieces]
        return quotas(lengths, self.weights) if self.config.mixing == MIX_WEIGHTS else lengths

    def source_counts(self, num_workers: int) -> list[int]:
        """Per source, the samples this rank reads in the current epoch (all its logical workers together)."""
        per_worker = [self._counts(self.pieces(w, num_workers)) for w in range(num_workers)]
        return [sum(c[s] for c in per_worker) for s in range(len(self.weights))]

    def order(self, worker: int, num_workers: int) -> Iterator[tuple[int, Item]]:
        """READ/EMIT events of logical `worker`'s epoch: mixed, then shuffled sample numbers."""
        consumer = self.rank * num_workers + worker
        pieces = self.pieces(worker, num_workers)
        per_source = [_passes(ps) for ps in pieces]
        mix_rng = random.Random(derived_seed(self.config.seed, self.epoch, consumer, 0))
        buf_rng = random.Random(derived_seed(self.config.seed, self.epoch, consumer, 1))
        reads = ((s, next(per_source[s])) for s in interleave(mix_rng, self._counts(pieces), self.weights))
        return shuffled(reads, self.config.shuffle_buffer, buf_rng)

    # -- one sample --------------------------------------------------------------------------------------------
    def _fetch(self, reader: RangeReader, item: Item) -> bytes | SampleError:
        index = self.indexes[item[0]]
        url = index.shard_urls[index.shard_of(item[1])]
        try:
            return reader.read(url, int(index.offsets[item[1]]), int(index.sizes[item[1]]))
        except OSError as e:
            return SampleError("unreadable", f"{url}: {type(e).__name__}: {e}")

    def _prepare(self, item: Item, raw: bytes | SampleError) -> tuple[dict[str, torch.Tensor], int]:
        if isinstance(raw, SampleError):
            raise raw
        key = self.indexes[item[0]].keys[item[1]].as_py()
        record, images = decode_sample(parse_members(raw, key, self.config.max_member_bytes), self.decode)
        if record.key != key:
            raise SampleError("bad-record", f"record key {record.key!r} in sample {key}")
        try:
            out = self.transform(record, images)
            tokens = len(out[self.length_key])
        except Exception as e:
            raise SampleError("transform", f"{type(e).__name__}: {e}") from e
        if tokens > self.config.max_tokens:
            raise SampleError("over-token-budget", f"{tokens} tokens > {self.config.max_tokens}")
        return out, tokens

    # -- the worker loop ---------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[dict[str, Any] | None, Progress]]:
        info = get_worker_info()
        num_workers, physical = (info.num_workers, info.id) if info is not None else (1, 0)
        worker = (physical + self.rotation) % num_workers
        start = self.starts[worker] if self.starts else 0
        return self.batches(worker, num_workers, start)

    def batches(self, worker: int, num_workers: int, start: int) -> Iterator[tuple[dict[str, Any] | None, Progress]]:
        """Logical `worker`'s batches from position `start` of its epoch order to the end."""
        reader = RangeReader()
        held: dict[Item, bytes | SampleError] = {}
        budget = TokenBudget(self.config.max_tokens)
        failures: Counter[str] = Counter()
        skipped: Counter[int] = Counter()
        seen: Counter[str] = Counter()
        position = 0

        def flush() -> tuple[dict[str, Any] | None, Progress]:
            tokens = budget.tokens
            samples = budget.take()
            progress = Progress(worker, position, len(samples), tokens, dict(failures), dict(skipped))
            failures.clear()
            skipped.clear()
            return (self.collate(samples) if samples else None), progress

        try:
            for kind, item in self.order(worker, num_workers):
                if kind == READ:
                    if position >= start:
                        held[item] = self._fetch(reader, item)
                    continue
                if position < start:
                    position += 1
                    continue
                raw = held.pop(item) if item in held else self._fetch(reader, item)
                try:
                    sample, tokens = self._prepare(item, raw)
                except SampleError as e:
                    failures[e.reason] += 1
                    skipped[item[0]] += 1
                    seen[e.reason] += 1
                    level = logging.WARNING if seen[e.reason] <= LOUD_FAILURES else logging.DEBUG
                    index = self.indexes[item[0]]
                    log.log(level, "skipping sample %s of %s: %s", index.keys[item[1]].as_py(), index.url, e)
                    position += 1
                    continue
                if not budget.fits(tokens):
                    yield flush()
                budget.add(sample, tokens)
                position += 1
            if budget.items or failures:
                yield flush()
        finally:
            reader.close()
