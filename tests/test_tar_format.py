"""Shard bytes written piecewise (`corpus.tar_format`) equal what `tarfile` writes, and read back."""
from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from corpus.tar_format import archive_tail, sample_blocks


@pytest.mark.parametrize("seed", range(5))
def test_pieces_equal_tarfile_output(seed: int) -> None:
    rng = np.random.default_rng(seed)
    samples = [(f"s{seed}_{i:04d}", [("jpg", rng.bytes(int(rng.integers(0, 5000)))), ("json", b"{}" * int(rng.integers(0, 900)))])
               for i in range(int(rng.integers(0, 9)))]
    ref = io.BytesIO()
    with tarfile.open(fileobj=ref, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, members in samples:
            for ext, data in members:
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    parts = [sample_blocks(key, members)[0] for key, members in samples]
    body = b"".join(parts)
    assert body + archive_tail(len(body)) == ref.getvalue()
    with tarfile.open(fileobj=io.BytesIO(body + archive_tail(len(body)))) as tar:
        assert [m.name for m in tar.getmembers()] == [f"{k}.{e}" for k, ms in samples for e, _ in ms]


def _rows(n: int = 6) -> list[dict]:
    return [{"input_id": f"in{i}", "source": "s", "shard_id": 0, "seq": i, "key": f"k{i:03d}",
             "members": [{"ext": "jpg", "data": bytes([i]) * (700 * i + 1)}, {"ext": "json", "data": b"{}"}]}
            for i in range(n)]


def test_shard_writer_tar_matches_its_stats(tmp_path) -> None:
    """Every stats row's (offset, size) holds exactly that sample's members, and the tar is a valid archive."""
    import pyarrow.parquet as pq

    from corpus.sink import ShardWriter, prepare_dirs

    prepare_dirs(tmp_path)
    w = ShardWriter(tmp_path, "t", 0, "test")
    for r in _rows():
        w.add(r)
    res = w.close()
    blob = (tmp_path / "shards" / "t-000000.tar").read_bytes()
    assert res.bytes == len(blob) and res.samples == 6
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        assert len(tar.getmembers()) == 12
    for row, src in zip(pq.read_table(tmp_path / "stats" / "t-000000.parquet").to_pylist(), _rows()):
        body = sample_blocks(src["key"], [(m["ext"], m["data"]) for m in src["members"]])[0]
        assert blob[row["offset"]:row["offset"] + row["size"]] == body


def test_aborted_shard_leaves_nothing_that_looks_complete(tmp_path) -> None:
    from corpus.sink import ShardWriter, completed_shards, prepare_dirs

    prepare_dirs(tmp_path)
    w = ShardWriter(tmp_path, "t", 0, "test")
    for r in _rows(3):
        w.add(r)
    w.abort(RuntimeError("the task died"))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # no tar, no temp tar, no tables
    assert completed_shards(tmp_path, "t") == set()


def test_page_costs_reach_the_stats_and_errors_tables(tmp_path) -> None:
    """`ocr_skip` and the per-page seconds of a sample row land in stats/, those of an error row in errors/."""
    import pyarrow.parquet as pq

    from corpus.sink import ShardWriter, prepare_dirs

    prepare_dirs(tmp_path)
    w = ShardWriter(tmp_path, "t", 0, "test")
    w.add({**_rows(1)[0], "ocr_seconds": 1.5, "layer_check_seconds": 0.25})
    w.add({"input_id": "scan.pdf", "error_type": "too_little_text", "error_category": "filtered",
           "ocr_skip": "blank_page", "ocr_seconds": 0.125})
    w.close()
    (stat,) = pq.read_table(tmp_path / "stats" / "t-000000.parquet").to_pylist()
    (err,) = pq.read_table(tmp_path / "errors" / "t-000000.parquet").to_pylist()
    assert (stat["ocr_seconds"], stat["layer_check_seconds"], stat["ocr_skip"]) == (1.5, 0.25, None)
    assert (err["ocr_skip"], err["ocr_seconds"], err["layer_check_seconds"]) == ("blank_page", 0.125, None)
