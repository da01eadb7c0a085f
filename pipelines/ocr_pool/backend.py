"""The shard tasks' side of the OCR pool: an `OcrBackend` (and `StagedOcrBackend`) whose work runs on the
pool's actors.

Contract:
- `PooledOcrBackend(actors)` is picklable (it travels in the build's steps to every shard task) and
  answers as `RapidOcrBackend` does, so `OcrRegions`' gates (skip before detection, after detection) and
  layer check work unchanged; only pages and crops that reach OCR leave the task.
- a page's pixels cross the object store once: `detect(image)` puts the image there and `read(image,
  quads)` of the same array reuses that copy on the same actor; crops of the layer check and of image
  areas go with their call.
- calls go round-robin over the actors, each process starting at its own actor (by pid), so the tasks
  of a node spread over the pool; the actors are stateless, so which one reads a page never changes its
  lines. Least-loaded dispatch would need a shared view of the queues (a coordinator actor on every
  call) for little gain: a call holds one page, and the queues even out over a shard's pages.
- a call that fails for good (the actor died more often than `ocr.pool.max_restarts`, or raised) raises
  `OcrPoolError` with a one-line reason: `OcrRegions` turns it into the page's error row (stage "ocr"),
  so the page is accounted, never lost.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from operators.docs.ocr_backends import OcrLine


class OcrPoolError(RuntimeError):
    """An OCR actor call that failed for good (its reason on one line)."""


class PooledOcrBackend:
    """OCR by the actors of a pool; see the module docstring."""

    def __init__(self, actors: list[Any]) -> None:
        if not actors:
            raise ValueError("PooledOcrBackend needs at least one actor")
        self.actors = list(actors)
        self._turn: int | None = None  # the next actor's index, set on the first call of each process
        self._image: np.ndarray | None = None  # the last detected page and its object-store copy
        self._ref: Any = None
        self._actor: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"actors": self.actors}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["actors"])

    def __repr__(self) -> str:  # stable across processes: the operator cache keys on a config's repr
        return f"PooledOcrBackend({', '.join(a._actor_id.hex()[:12] for a in self.actors)})"

    def _next_actor(self) -> Any:
        if self._turn is None:
            self._turn = os.getpid() % len(self.actors)
        actor = self.actors[self._turn]
        self._turn = (self._turn + 1) % len(self.actors)
        return actor

    def _call(self, actor: Any, method: str, *args: Any) -> Any:
        import ray

        try:
            return ray.get(getattr(actor, method).remote(*args))
        except ray.exceptions.RayError as e:
            reason = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise OcrPoolError(f"OCR actor {method} failed: {type(e).__name__}: {reason}"[:500]) from None

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        import ray

        self._image, self._ref, self._actor = image, ray.put(image), self._next_actor()
        return self._call(self._actor, "detect", self._ref)

    def read(self, image: np.ndarray, quads: list[np.ndarray]) -> list[OcrLine]:
        if image is self._image:  # the page `detect` just sent: its copy, on its actor
            ref, actor = self._ref, self._actor
            self._image = self._ref = self._actor = None
            return self._call(actor, "read", ref, quads)
        return self._call(self._next_actor(), "read", image, quads)

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        return self._call(self._next_actor(), "recognize", image)

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return self._call(self._next_actor(), "recognize_crops", crops) if crops else []
