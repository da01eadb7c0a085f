"""A small demo document corpus for the training tests, built once per test session (needs Ray)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig


def docs_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated text-layer PDFs at 48 dpi, two corrupted samples per page (about 15 samples)."""
    out = tmp_path_factory.getbasetemp() / "train_docs_corpus"
    if (out / "manifest.json").is_file():
        return out
    inputs = tmp_path_factory.mktemp("train_docs_in")
    pdfs = [p for p in generate_demo_corpus(inputs) if p.suffix == ".pdf" and "scan" not in p.name][:3]
    cfg = DocsConfig(run=RunConfig(num_cpus=2, inputs_per_shard=1, seed=0, progress=False))
    cfg.pages.dpi = 48
    # 48 dpi keeps training fast; at this size the 8-9 pt lines fall under the 6 px legibility floor,
    # and the RL test's reward trend was tuned on the corpus with them: keep them
    cfg.pages.visibility.min_glyph_px = 0.0
    cfg.samples.corrupt_samples = 2
    summary = build_docs([str(p) for p in pdfs], out, cfg)
    assert summary.ok and summary.samples > 5
    return out


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine more threads spin against each other (10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
