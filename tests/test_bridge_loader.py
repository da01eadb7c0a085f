"""The resumable loader over small synthetic corpora (real sink layout): coverage, mixing, budget, resume."""
from __future__ import annotations

import copy
from pathlib import Path

import fsspec
import pytest
import torch

from training_bridge.data.collate import batch_counts
from training_bridge.data.config import DataConfig
from training_bridge.data.loader import BridgeLoader
from training_bridge.data.synthetic import write_corpus
from training_bridge.data.transform import ByteTransform
from training_bridge.train.meter import ThroughputMeter

IMAGES, VIDEOS = [10, 7, 13, 4], [5, 6]
MAX_TOKENS = 300


def tagged(record, images):
    """ByteTransform plus `uid`: the sample's corpus (0 images, 1 videos) and number, to follow it."""
    out = ByteTransform()(record, images)
    corpus = 1 if record.task == "video_caption" else 0
    assert len(images) == (3 if corpus else 1)
    out["uid"] = torch.tensor([corpus * 1000 + record.meta["n"]])
    return out


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bridge")
    write_corpus(root / "images", IMAGES, text_len=150)  # varied lengths: workers end at different batches
    write_corpus(root / "videos", VIDEOS, kind="video", prefix="vid", size=(32, 24))
    return root / "images", root / "videos"


def _config(corpora, workers=0, mixing="sizes", **kw) -> DataConfig:
    """Mixing "sizes" (no weights: every sample exactly once, for coverage and resume tests) or "weights" 1:2."""
    kw.setdefault("shuffle_buffer", 6)
    weights = [1.0, 2.0] if mixing == "weights" else []
    return DataConfig(corpora=[str(c) for c in corpora], weights=weights, seed=7, max_tokens=MAX_TOKENS,
                      num_workers=workers, **kw)


def _loader(corpora, workers=0, epochs=1, rank=0, world=1, **kw) -> BridgeLoader:
    return BridgeLoader(_config(corpora, workers, **kw), rank=rank, world_size=world, transform=tagged, epochs=epochs)


def _uids(batch) -> tuple[int, ...]:
    return tuple(batch["uid"].flatten().tolist())


ALL = sorted([n for n in range(sum(IMAGES))] + [1000 + n for n in range(sum(VIDEOS))])


@pytest.mark.parametrize("world,workers", [(1, 0), (2, 0), (2, 2), (3, 2)])
def test_ranks_and_workers_cover_every_sample_exactly_once(corpora, world, workers):
    seen = []
    for rank in range(world):
        loader = _loader(corpora, workers, rank=rank, world=world)
        mine = [u for b in loader for u in _uids(b)]
        assert len(mine) == loader.samples_per_epoch == loader.samples
        seen += mine
    assert sorted(seen) == ALL


def test_epochs_reshuffle_and_runs_repeat(corpora):
    def run():
        loader = _loader(corpora, 0, epochs=2)
        return [u for b in loader for u in _uids(b)]

    order = run()
    first, second = order[:len(ALL)], order[len(ALL):]
    assert sorted(first) == sorted(second) == ALL and first != second
    assert order == run()
    assert order != [u for b in _loader(corpora, 0, epochs=2, shuffle_buffer=0) for u in _uids(b)]


def test_batches_fill_the_token_budget_greedily(corpora):
    batches = list(_loader(corpora, 0))
    tokens = [batch_counts(b)[1] for b in batches]
    first_sample = [int(b["attention_mask"][0].sum()) for b in batches]
    assert all(t <= MAX_TOKENS for t in tokens)
    assert all(t + nxt > MAX_TOKENS for t, nxt in zip(tokens[:-1], first_sample[1:]))
    b = batches[0]
    assert b["input_ids"].shape == b["labels"].shape == b["attention_mask"].shape
    assert (b["labels"][b["attention_mask"] == 0] == -100).all()


# With 2 workers, worker 0 ends epoch 0 after batch 19 and worker 1 delivers 20-21 alone: the checkpoints
# cover a resume inside that tail, at the epoch boundary, and inside epoch 1.
@pytest.mark.parametrize("workers,checkpoints", [(0, None), (2, [1, 9, 19, 20, 21, 22, 30, 40])])
def test_resume_after_any_step_yields_the_same_batches(corpora, workers, checkpoints):
    loader = _loader(corpora, workers, epochs=2)
    full, states = [], []
    for batch in loader:
        full.append(_uids(batch))
        states.append(copy.deepcopy(loader.state_dict()))
    assert [_uids(b) for b in _loader(corpora, workers, epochs=2)] == full  # the run itself is deterministic
    for k in checkpoints or range(1, len(full)):
        resumed = _loader(corpora, workers, epochs=2)
        resumed.load_state_dict(states[k - 1])
        assert [_uids(b) for b in resumed] == full[k:], f"resume after batch {k}"
        assert resumed.samples == loader.samples and resumed.batches == loader.batches


def test_weighted_mixing_gives_each_corpus_its_weight_share(corpora):
    # weights 1 : 2 over 34 images and 11 videos: an epoch of 45 samples holds 15 images and 30 videos
    for workers, world in [(0, 1), (2, 2)]:
        uids = [u for rank in range(world) for b in _loader(corpora, workers, rank=rank, world=world, mixing="weights")
                for u in _uids(b)]
        videos = [u for u in uids if u >= 1000]
        assert len(uids) == len(ALL) and abs(len(videos) - 30) <= 2 * world * max(workers, 1)
        assert set(videos) == {u for u in ALL if u >= 1000}  # the small corpus repeats, none of it is missed
        images = [u for u in uids if u < 1000]
        assert len(set(images)) == len(images)  # the large corpus is subsampled, without repeats
    two_epochs = [u for b in _loader(corpora, 0, epochs=2, mixing="weights") for u in _uids(b)]
    first, second = two_epochs[:len(ALL)], two_epochs[len(ALL):]
    assert {u for u in first if u < 1000} != {u for u in second if u < 1000}  # another subset every epoch


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_exact_with_weighted_mixing(corpora, workers):
    loader = _loader(corpora, workers, epochs=2, mixing="weights")
    full, states = [], []
    for batch in loader:
        full.append(_uids(batch))
        states.append(copy.deepcopy(loader.state_dict()))
    for k in range(1, len(full), 3):
        resumed = _loader(corpora, workers, epochs=2, mixing="weights")
        resumed.load_state_dict(states[k - 1])
        assert [_uids(b) for b in resumed] == full[k:], f"resume after batch {k}"


def test_endless_iteration_refuses_a_rank_without_samples(corpora):
    loader = _loader(corpora, 0, rank=0, world=100, epochs=None)  # 45 samples for 100 ranks: rank 0 gets none
    assert loader.samples_per_epoch == 0
    with pytest.raises(RuntimeError, match="no batch"):
        next(iter(loader))


def test_state_is_keyed_by_rank_and_refuses_another_layout(corpora):
    loader = _loader(corpora, 0, rank=1, world=2)
    next(iter(loader))
    state = loader.state_dict()
    assert state["world_size"] == 2 and set(state) == {"world_size", "dp_rank_1"}
    with pytest.raises(ValueError, match="world size"):
        _loader(corpora, 0, rank=1, world=3).load_state_dict(state)
    with pytest.raises(ValueError, match="dp_rank_0"):
        _loader(corpora, 0, rank=0, world=2).load_state_dict(state)
    with pytest.raises(ValueError, match="workers"):
        _loader(corpora, 2, rank=1, world=2).load_state_dict(state)
    with pytest.raises(ValueError, match="config"):
        _loader(corpora, 0, rank=1, world=2, shuffle_buffer=3).load_state_dict(state)


def test_reads_a_corpus_through_fsspec(corpora):
    fs = fsspec.filesystem("memory")
    for corpus in corpora:
        for path in corpus.rglob("*"):
            if path.is_file():
                fs.pipe(f"/bridge/{corpus.name}/{path.relative_to(corpus)}", path.read_bytes())
    local = [_uids(b) for b in _loader(corpora, 0)]
    remote = BridgeLoader(_config(["memory://bridge/images", "memory://bridge/videos"]), transform=tagged, epochs=1)
    assert [_uids(b) for b in remote] == local


def test_meter_counts_samples_tokens_and_wait(corpora):
    now = [0.0]
    meter = ThroughputMeter(clock=lambda: now[0])
    it = iter(_loader(corpora, 0))
    for _ in range(3):
        with meter.wait():
            batch = next(it)
            now[0] += 2
        with meter.step(*batch_counts(batch)):
            now[0] += 3
    t = meter.summary()
    assert t.steps == 3 and t.seconds == 15 and t.wait_seconds == 6 and t.samples > 3 and t.tokens > 0
    assert t.wait_fraction == pytest.approx(0.4) and t.samples_per_s == pytest.approx(t.samples / 15)
