"""Skipped samples made loud: a per-epoch summary by reason, and an error past a share of a corpus.

A sample the stream cannot use (too many tokens, too many frames, a broken image...) is skipped and counted
by reason (`stream.ShardStream`). `SkipGuard` keeps this epoch's counts per reason and per corpus; the loader
logs `summary()` at the end of each epoch and calls `check()` after every batch, which raises `UserError`
as soon as more than `max_share` of one corpus's samples in this epoch (on this rank) are skipped: the
share can only grow until the epoch ends, so the run stops early instead of training on a silently
thinned corpus. The error names the setting that lets each reason's samples through.
"""
from __future__ import annotations

from collections import Counter

from corpus.errors import UserError

#: The data setting that lets a skip reason's samples through (training config names).
KNOBS = {
    "over-token-budget": "data.max_tokens",
    "too-many-images": "data.max_images",
    "too-many-pixels": "data.max_image_pixels",
    "video-container": "a corpus built in frames mode (videos build --set frames.store=frames)",
}


class SkipGuard:
    """This epoch's skipped samples by reason and by source; see the module docstring."""

    def __init__(self, urls: list[str], max_share: float | None) -> None:
        self.urls, self.max_share = urls, max_share
        self.reasons: Counter[str] = Counter()
        self.sources: Counter[int] = Counter()

    def add(self, reasons: dict[str, int], sources: dict[int, int]) -> None:
        self.reasons.update(reasons)
        self.sources.update({int(s): n for s, n in sources.items()})

    def reset(self) -> None:
        self.reasons.clear()
        self.sources.clear()

    def summary(self) -> str:
        """`N skipped (reason: n, ...)`, or `none skipped`."""
        total = sum(self.reasons.values())
        if not total:
            return "none skipped"
        return f"{total} skipped ({', '.join(f'{r}: {n}' for r, n in self.reasons.most_common())})"

    def check(self, per_epoch: list[int]) -> None:
        """Raise when a source's skipped samples exceed `max_share` of `per_epoch[source]`."""
        if self.max_share is None:
            return
        for source, n in sorted(self.sources.items()):
            if n > self.max_share * max(per_epoch[source], 1):
                fixes = "; ".join(f"{r}: raise {KNOBS[r]}" if r in KNOBS and r != "video-container" else
                                  f"{r}: use {KNOBS[r]}" if r in KNOBS else f"{r}: rebuild the corpus or drop its broken shards"
                                  for r in sorted(self.reasons))
                raise UserError(
                    f"{n} of the {per_epoch[source]} samples of {self.urls[source]} this epoch were skipped "
                    f"({self.summary()}), more than data.max_skipped={self.max_share:g} allows. To keep them: {fixes}. "
                    "Or accept the loss with a larger data.max_skipped")

    def state_dict(self) -> dict:
        return {"reasons": dict(self.reasons), "sources": {str(s): n for s, n in self.sources.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.reset()
        self.add(state.get("reasons", {}), {int(s): n for s, n in state.get("sources", {}).items()})
