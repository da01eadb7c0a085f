"""A corpus pipeline declared once: its name, its inputs, its config and its operator steps.

Docs, images and videos are each one `Pipeline` (`pipelines.docs.DOCS`, ...); `Pipeline.build` is the
whole build of every one of them (inputs found, config settled, `pipelines.engine.run.run_build`), and
the CLI makes `mmcorpus NAME build` from the same declaration (`cli.args.register_build`). A new modality is a
config dataclass with a `run: RunConfig` field, an input finder and a steps function.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from corpus.config import one_seed, to_dict
from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.storage import Store
from pipelines.engine.record import BuildSummary
from pipelines.engine.run import run_build
from pipelines.engine.steps import Step

C = TypeVar("C")


def _as_is(cfg: C, items: list[InputItem], out_dir: "str | Path") -> C:
    return cfg


@dataclass(frozen=True)
class Pipeline(Generic[C]):
    """What makes one kind of corpus; see the module docstring."""

    name: str  # the CLI group, the shard prefix and the manifest's `pipeline`
    noun: str  # what an input is, in messages: "document", "image", "video"
    config: type[C]  # a dataclass with `run: RunConfig`; recorded in the manifest of every run
    find_inputs: Callable[[list[str]], list[InputItem]]  # INPUT specs → inputs (files, folders, manifests, URLs)
    # the operator steps, made once the build lock is held (a pass that writes into the corpus, such as
    # deduplication, runs here: never racing another build of it); gets the corpus store
    steps: Callable[[C, list[InputItem], Store], list[Step]]
    # the config settled on the inputs before the build starts (docs: noise calibration)
    prepare: Callable[[C, list[InputItem], "str | Path"], C] = _as_is

    def build(self, inputs: list[str], out_dir: "str | Path", cfg: C | None = None) -> BuildSummary:
        """Build or resume a corpus at `out_dir` (folder or object-store URL) from INPUT specs."""
        cfg = one_seed(cfg if cfg is not None else self.config())
        items = self.find_inputs(inputs)
        if not items:
            raise UserError(f"no {self.noun} inputs found in {inputs}")
        cfg = self.prepare(cfg, items, out_dir)
        run: Any = cfg.run  # type: ignore[attr-defined]
        return run_build(pipeline=self.name, inputs=items, steps=lambda store: self.steps(cfg, items, store),
                         out_dir=out_dir, run=run, config_record=to_dict(cfg))
