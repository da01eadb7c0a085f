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
