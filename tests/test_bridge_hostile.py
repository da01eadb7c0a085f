"""Broken and hostile shards: every bad sample is counted with its reason and skipped, nothing crashes,
nothing is unpickled, no decompression bomb is decoded."""
from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training_bridge.data.config import DataConfig
from training_bridge.data.loader import BridgeLoader
from training_bridge.data.synthetic import sample_row, write_corpus, write_shards

SHARDS = [4, 4]
N = sum(SHARDS)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "clean"
    write_corpus(out, SHARDS)
    return out


@pytest.fixture
def corpus(clean, tmp_path) -> Path:
    dst = tmp_path / "corpus"
    shutil.copytree(clean, dst)
    return dst


def _run(corpus: Path, workers: int = 0, **limits: int) -> BridgeLoader:
    cfg = DataConfig(corpora=[str(corpus)], shuffle_buffer=3, max_tokens=200, num_workers=workers,
                     max_skipped=None, **limits)  # count, never stop
    loader = BridgeLoader(cfg, epochs=1)
    for _ in loader:
        pass
    return loader


def _tar(corpus: Path, shard: int = 0) -> Path:
    return corpus / "shards" / f"synth-{shard:06d}.tar"


def _member(tar: Path, index: int) -> tarfile.TarInfo:
    with tarfile.open(tar) as t:
        return t.getmembers()[index]


def _patch(tar: Path, at: int, data: bytes) -> None:
    raw = bytearray(tar.read_bytes())
    raw[at:at + len(data)] = data
    tar.write_bytes(bytes(raw))


def _rewrite_header(tar: Path, index: int, name: str | None = None, typeflag: bytes | None = None) -> None:
    at = _member(tar, index).offset
    header = bytearray(tar.read_bytes()[at:at + 512])
    if name is not None:
        header[0:100] = name.encode().ljust(100, b"\0")
    if typeflag is not None:
        header[156:157] = typeflag
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    _patch(tar, at, bytes(header))


def test_clean_corpus_has_no_failures(clean):
    loader = _run(clean)
    assert loader.samples == N and not loader.failures


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupted_image_member_is_skipped(corpus, workers):
    _patch(_tar(corpus), _member(_tar(corpus), 2).offset_data, b"\x00" * 64)  # sample 1's jpg: no JPEG marker
    loader = _run(corpus, workers)
    assert loader.failures == {"bad-image": 1} and loader.samples == N - 1


def test_corrupted_header_and_record_are_skipped(corpus):
    header, record = _member(_tar(corpus), 0).offset, _member(_tar(corpus), 3).offset_data
    _patch(_tar(corpus), header + 3, b"#")  # sample 0: a name byte changed, the checksum now wrong
    _patch(_tar(corpus), record, b"{{{")  # sample 1's json
    loader = _run(corpus)
    assert loader.failures == {"corrupt-header": 1, "bad-record": 1} and loader.samples == N - 2


def test_truncated_tar_skips_the_missing_samples(corpus):
    tar = _tar(corpus)
    tar.write_bytes(tar.read_bytes()[:_member(tar, 5).offset_data + 100])  # cut inside sample 2's json
    loader = _run(corpus)
    assert loader.failures == {"truncated": 2} and loader.samples == N - 2


def test_missing_shard_is_counted_not_fatal(corpus):
    _tar(corpus, 1).unlink()
    loader = _run(corpus)
    assert loader.failures == {"unreadable": SHARDS[1]} and loader.samples == SHARDS[0]


@pytest.mark.parametrize("name,typeflag,reason", [
    ("../{key}.jpg", None, "bad-name"),
    ("/etc/{key}.jpg", None, "bad-name"),
    ("other/{key}.jpg", None, "bad-name"),
    ("{other}.jpg", None, "bad-name"),
    (None, b"2", "not-a-file"),  # symlink
    (None, b"x", "not-a-file"),  # pax extended header
])
def test_hostile_member_names_and_types_are_refused(corpus, name, typeflag, reason):
    tar = _tar(corpus)
    key = _member(tar, 0).name.split(".")[0]
    other = _member(tar, 2).name.split(".")[0]
    _rewrite_header(tar, 0, name.format(key=key, other=other) if name else None, typeflag)
    loader = _run(corpus)
    assert loader.failures == {reason: 1} and loader.samples == N - 1


class _Payload:
    """Unpickling this touches `marker`: proof that something ran `pickle.loads`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _corpus_with(tmp_path: Path, extra: dict) -> Path:
    rng = np.random.default_rng(0)
    rows = [sample_row(n, 0, "image", rng, (64, 48), 40, "synth") for n in range(3)]
    rows[1]["members"].insert(0, extra)
    write_shards(tmp_path / "c", [rows])
    return tmp_path / "c"


@pytest.mark.parametrize("ext", ["pth", "pickle", "pyd"])
def test_pickle_members_are_refused_unopened(tmp_path, ext):
    marker = tmp_path / "unpickled"
    corpus = _corpus_with(tmp_path, {"ext": ext, "data": pickle.dumps(_Payload(marker))})
    loader = _run(corpus)
    assert loader.failures == {"pickle-refused": 1} and loader.samples == 2
    assert not marker.exists()


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    buf = io.BytesIO()
    Image.new("L", (4000, 3000)).save(buf, "PNG")  # 12 Mpx in a few KB
    assert len(buf.getvalue()) < 100_000
    corpus = _corpus_with(tmp_path, {"ext": "png", "data": buf.getvalue()})
    loader = _run(corpus, max_image_pixels=1_000_000)
    assert loader.failures == {"too-many-pixels": 1} and loader.samples == 2


def test_mutated_sample_bytes_only_ever_raise_sample_error(clean):
    from corpus.index import CorpusIndex
    from corpus.tar_members import SampleError, parse_members
    from training_bridge.data.decode import decode_sample

    index = CorpusIndex.load(str(clean))
    key = index.keys[0].as_py()
    with open(index.shard_urls[0], "rb") as f:
        original = f.read(int(index.sizes[0]))
    rng = np.random.default_rng(0)
    outcomes = set()
    for _ in range(300):
        data = bytearray(original)
        for at in rng.integers(0, len(data), int(rng.integers(1, 4))):
            data[at] = int(rng.integers(0, 256))
        cut = len(data) if rng.random() < 0.8 else int(rng.integers(0, len(data)))
        try:
            decode_sample(parse_members(bytes(data[:cut]), key, 1 << 20), DataConfig().decode)
            outcomes.add("ok")
        except SampleError as e:
            outcomes.add(e.reason)
    assert "ok" in outcomes and {"corrupt-header", "truncated"} <= outcomes
