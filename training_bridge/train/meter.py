"""Throughput of a training loop: samples/s, tokens/s, and the share of wall time spent waiting for data.

A loop wraps each batch fetch in `meter.wait()` and each step in `meter.step(samples, tokens)`, then reads
`meter.summary()`; `metered_steps(batches, train_step, steps, counts)` is that loop for a given step.

Wall time runs from the first `wait` or `step` to the end of the last one; the data-wait fraction is the
time inside `wait` over that wall time (1.0 when the loop does nothing but wait, as a loader benchmark).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

B = TypeVar("B")


@dataclass(frozen=True)
class Throughput:
    """Totals and rates over the metered span."""

    steps: int
    samples: int
    tokens: int
    seconds: float
    wait_seconds: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def wait_fraction(self) -> float:
        return self.wait_seconds / self.seconds if self.seconds else 0.0


class ThroughputMeter:
    """Accumulates wait and step times and the samples/tokens each step processed."""

    def __init__(self, clock=time.perf_counter) -> None:
        self._clock = clock
        self._first: float | None = None
        self._last = 0.0
        self._wait = 0.0
        self.steps = self.samples = self.tokens = 0

    def _start(self) -> float:
        t0 = self._clock()
        if self._first is None:
            self._first = t0
        return t0

    def _stop(self, t0: float) -> float:
        self._last = self._clock()
        return self._last - t0

    @contextmanager
    def wait(self) -> Iterator[None]:
        """Time spent getting the next batch."""
        t0 = self._start()
        try:
            yield
        finally:
            self._wait += self._stop(t0)

    @contextmanager
    def step(self, samples: int = 0, tokens: int = 0) -> Iterator[None]:
        """One training step over a batch of `samples` samples and `tokens` tokens."""
        t0 = self._start()
        try:
            yield
        finally:
            self._stop(t0)
        self.steps += 1
        self.samples += samples
        self.tokens += tokens

    def summary(self) -> Throughput:
        seconds = self._last - self._first if self._first is not None else 0.0
        return Throughput(self.steps, self.samples, self.tokens, seconds, self._wait)


def metered_steps(batches: Iterator[B], train_step: Callable[[B], object], steps: int,
                  counts: Callable[[B], tuple[int, int]]) -> Throughput:
    """Run `train_step` on the next `steps` batches, each fetch metered as a wait and each step with its
    `(samples, tokens)` from `counts`; the loop's `Throughput`."""
    meter = ThroughputMeter()
    for _ in range(steps):
        with meter.wait():
            batch = next(batches)
        with meter.step(*counts(batch)):
            train_step(batch)
    return meter.summary()
