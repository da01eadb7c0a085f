"""The resumable loader a trainer iterates: DataLoader workers over `ShardStream`, with exact state.

`BridgeLoader(data_config, rank=, world_size=, transform=, epochs=)` yields collated batches, epoch after
epoch (`epochs`, None for endless); every user setting comes from `config.DataConfig`. `state_dict()` after
batch k and `load_state_dict()` into a fresh loader make it yield exactly the batches k+1, k+2, ... of the
uninterrupted run, with any `num_workers` as long as it is the same before and after.

Why that holds: each logical worker's batches are a pure function of (config, epoch, worker layout) and
the position its delivered batches reached, and DataLoader delivers worker outputs round-robin in worker
order, dropping a worker from the cycle at its end. The state records every logical worker's position
and which one delivers next; on resume that one is mapped to physical worker 0 (`rotation`), so the cycle
continues where it stopped. A finished worker restarts finished and leaves the cycle on its first turn,
as it would have.

Ranks read the same number of samples per epoch (to one sample per corpus and worker), but batches are
sized by tokens, so their batch counts differ: run a fixed number of steps over endless epochs, or agree
on the end of an epoch across ranks.

Like torchtitan's `BaseDataLoader(Stateful)`, the state is keyed by data-parallel rank and checked
against the world size, worker count and a fingerprint of the corpora and config: resuming on another
layout is refused rather than silently reshuffled (the transform is not fingerprinted: keep it fixed).
Batches are pinned when CUDA is available, and each worker prefetches `prefetch_factor` batches.
Skips are loud (`skips.SkipGuard`): a summary by reason at the end of every epoch, and a `UserError` as
soon as more than `max_skipped` of a corpus's epoch is skipped.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import asdict
from typing import Any, Iterator

import torch
from torch.distributed.checkpoint.stateful import Stateful
from torch.utils.data import DataLoader

from corpus.index import CorpusIndex
from training_bridge.data.collate import Collate
from training_bridge.data.config import DataConfig
from training_bridge.data.mixing import Source
from training_bridge.data.skips import SkipGuard
from training_bridge.data.stream import Progress, ShardStream
from training_bridge.data.transform import SampleTransform

log = logging.getLogger(__name__)


class BridgeLoader(Stateful):
    """Batches for data-parallel `rank` of `world_size`, resumable; see the module docstring.

    Attributes the trainer may read: `epoch`, `batches`, `samples`, `tokens` (delivered so far) and
    `failures` (skipped samples by reason).
    """

    def __init__(self, config: DataConfig, *, rank: int = 0, world_size: int = 1,
                 transform: SampleTransform | None = None, collate: Collate | None = None, pad_id: int = 0,
                 length_key: str = "input_ids", epochs: int | None = None) -> None:
        self.config, self.epochs = config, epochs
        sources = config.sources()
        indexes = [CorpusIndex.load(s.url) for s in sources]
        for index in indexes:
            index.require_video_member()
        self.stream = ShardStream(config, indexes, rank, world_size, transform, collate, pad_id=pad_id,
                                  length_key=length_key)
        self.rank, self.world_size = rank, world_size
        self.fingerprint = _fingerprint(config, sources, indexes, pad_id, length_key)
        self._workers = max(self.config.num_workers, 1)
        self.epoch = 0
        self.positions = [0] * self._workers
        self.next_worker = 0
        self.batches = self.samples = self.tokens = 0
        self.failures: Counter[str] = Counter()
        self.skips = SkipGuard([s.url for s in sources], self.config.max_skipped)

    @property
    def samples_per_epoch(self) -> int:
        """Samples this rank reads per epoch, failed ones included: the exact epoch length."""
        return self.stream.samples_per_epoch(self._workers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Batches from the current state on; the state advances as each batch is handed out."""
        while self.epochs is None or self.epoch < self.epochs:
            self.stream.set_epoch_state(self.epoch, self.positions, self.next_worker)
            per_source = self.stream.source_counts(self._workers)
            fresh, delivered = not any(self.positions), 0
            for batch, progress in self._dataloader():
                self._advance(progress)
                self.skips.check(per_source)
                if batch is not None:
                    self.batches += 1
                    delivered += 1
                    yield batch
            if fresh and not delivered and self.epochs is None:
                raise RuntimeError(f"rank {self.rank}: an epoch delivered no batch ({self.samples_per_epoch} "
                                   f"samples per epoch, skipped: {dict(self.failures)}); endless iteration would spin")
            log.log(logging.WARNING if self.skips.reasons else logging.INFO, "rank %d finished epoch %d: %d samples "
                    "delivered so far; this epoch %s", self.rank, self.epoch, self.samples, self.skips.summary())
            self.skips.reset()
            self.epoch += 1
            self.positions = [0] * self._workers
            self.next_worker = 0

    def _dataloader(self) -> DataLoader:
        workers = self.config.num_workers
        pin = torch.cuda.is_available() if self.config.pin_memory is None else self.config.pin_memory
        return DataLoader(self.stream, batch_size=None, num_workers=workers, pin_memory=pin,
                          prefetch_factor=self.config.prefetch_factor if workers else None)

    def _advance(self, progress: Progress) -> None:
        self.positions[progress.worker] = progress.position
        self.next_worker = (progress.worker + 1) % self._workers
        self.samples += progress.samples
        self.tokens += progress.tokens
        self.failures.update(progress.failures)
        self.skips.add(progress.failures, progress.skipped)

    # -- Stateful ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "epoch": self.epoch, "positions": list(self.positions), "next_worker": self.next_worker,
            "num_workers": self._workers, "fingerprint": self.fingerprint, "batches": self.batches,
            "samples": self.samples, "tokens": self.tokens, "failures": dict(self.failures),
            "epoch_skips": self.skips.state_dict(),
        }
        return {"world_size": self.world_size, f"dp_rank_{self.rank}": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a `state_dict()` of this rank; an empty dict keeps the fresh state."""
        if not state_dict:
            log.info("rank %d: empty loader state, starting from the beginning", self.rank)
            return
        if state_dict.get("world_size") != self.world_size:
            raise ValueError(f"loader state is for world size {state_dict.get('world_size')}, not {self.world_size}")
        key = f"dp_rank_{self.rank}"
        if key not in state_dict:
            raise ValueError(f"loader state has no entry {key}")
        state = state_dict[key]
        if state["num_workers"] != self._workers:
            raise ValueError(f"loader state is for {state['num_workers']} workers, not {self._workers}")
        if state["fingerprint"] != self.fingerprint:
            raise ValueError("loader state was saved for other corpora or another data config")
        self.epoch, self.positions, self.next_worker = state["epoch"], list(state["positions"]), state["next_worker"]
        self.batches, self.samples, self.tokens = state["batches"], state["samples"], state["tokens"]
        self.failures = Counter(state["failures"])
        self.skips.load_state_dict(state.get("epoch_skips", {}))


def _fingerprint(config: DataConfig, sources: list[Source], indexes: list[CorpusIndex], pad_id: int,
                 length_key: str) -> str:
    """What the stream's order and batches depend on: the corpora, their weights and layout, and the settings
    that shape the stream (not the worker count or delivery settings, checked or irrelevant on resume)."""
    shaping = {"sources": [asdict(s) for s in sources], "seed": config.seed, "shuffle_buffer": config.shuffle_buffer,
               "max_tokens": config.max_tokens, "length_key": length_key, "pad_id": pad_id,
               "max_member_bytes": config.max_member_bytes, "decode": asdict(config.decode), "mixing": config.mixing}
    h = hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode())
    for index in indexes:
        h.update(index.shard_starts.tobytes())
        h.update(index.offsets.tobytes())
    return h.hexdigest()[:16]
