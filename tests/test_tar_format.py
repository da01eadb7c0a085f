"""Shard bytes written piecewise (`pipelines.tar_format`) equal what `tarfile` writes, and read back."""
from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from pipelines.tar_format import archive_tail, sample_blocks


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


def test_spliced_parts_equal_driver_written_shard(tmp_path, monkeypatch) -> None:
    """The sink copies part-file ranges (kernel copy, or read/write where the OS has none) into the same bytes."""
    import os

    from pipelines.sink import ShardWriter, prepare_dirs
    from pipelines.spill import SpillWriter, parts_dir

    def rows():
        return [{"input_id": f"in{i}", "source": "s", "shard_id": 0, "seq": i, "key": f"k{i:03d}",
                 "members": [{"ext": "jpg", "data": bytes([i]) * (700 * i + 1)}, {"ext": "json", "data": b"{}"}]}
                for i in range(6)]

    def write(out, rows_):
        w = ShardWriter(out, "t", 0, "test", "run")
        for r in rows_:
            w.add(r)
        w.close()
        return (out / "shards" / "t-000000.tar").read_bytes()

    prepare_dirs(tmp_path / "a")
    direct = write(tmp_path / "a", rows())
    for name in ("b", "c"):
        if name == "c":
            monkeypatch.delattr(os, "copy_file_range", raising=False)
        out = tmp_path / name
        prepare_dirs(out)
        spilled = SpillWriter(out).spill(rows()[:3]) + SpillWriter(out).spill(rows()[3:])  # two tasks, two parts
        assert all(r["part"] and r["members"][0]["data"] is None for r in spilled)
        assert write(out, spilled) == direct
        assert not list(parts_dir(out).iterdir())
