"""The loader over a real docs corpus built by the pipeline: every page sample once across ranks and
workers, images decoded at their recorded size, exact resume."""
from __future__ import annotations

import copy
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig
from training_bridge.data.config import DataConfig
from training_bridge.data.loader import BridgeLoader
from training_bridge.data.transform import ByteTransform


def keyed(record, images):
    """ByteTransform plus the sample key (as an integer) and the decoded image size."""
    out = ByteTransform()(record, images)
    out["uid"] = torch.tensor([int(record.key[:15], 16)])
    out["size"] = torch.tensor([images[0].width, images[0].height, record.width, record.height])
    return out


@pytest.fixture(scope="module")
def corpus(ray_session, tmp_path_factory) -> Path:
    inputs = tmp_path_factory.mktemp("docs_in")
    pdfs = [p for p in generate_demo_corpus(inputs) if p.suffix == ".pdf" and "scan" not in p.name][:3]
    cfg = DocsConfig(run=RunConfig(num_cpus=2, inputs_per_shard=1, progress=False))
    cfg.pages.dpi = 72
    out = tmp_path_factory.mktemp("docs_corpus")
    assert build_docs([str(p) for p in pdfs], out, cfg).ok
    return out


def _loader(corpus, workers, rank=0, world=1, epochs=1) -> BridgeLoader:
    cfg = DataConfig(corpora=[str(corpus)], seed=1, shuffle_buffer=16, max_tokens=4096, num_workers=workers)
    return BridgeLoader(cfg, rank=rank, world_size=world, transform=keyed, epochs=epochs)


def test_docs_corpus_is_covered_once_across_ranks_and_workers(corpus):
    keys = pq.read_table(corpus / "stats", columns=["key"]).column("key").to_pylist()
    assert len({p.name for p in (corpus / "shards").glob("*.tar")}) >= 3
    seen = []
    for rank in range(2):
        loader = _loader(corpus, 2, rank, 2)
        for batch in loader:
            seen += batch["uid"].flatten().tolist()
            size = batch["size"]
            assert (size[:, :2] == size[:, 2:]).all()  # decoded at the size the record states
        assert loader.samples == loader.samples_per_epoch and not loader.failures
    assert sorted(seen) == sorted(int(k[:15], 16) for k in keys)


def test_docs_corpus_resumes_exactly_with_workers(corpus):
    loader = _loader(corpus, 2, epochs=2)
    full, states = [], []
    for batch in loader:
        full.append(batch["uid"].flatten().tolist())
        states.append(copy.deepcopy(loader.state_dict()))
    for k in (len(full) // 3, len(full) // 2 + 1):
        resumed = _loader(corpus, 2, epochs=2)
        resumed.load_state_dict(states[k - 1])
        assert [b["uid"].flatten().tolist() for b in resumed] == full[k:]
