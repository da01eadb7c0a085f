"""WebDataset tar bytes without `tarfile`'s per-archive state, so tasks can write parts of a shard.

A shard is the concatenation of its samples' member blocks (`sample_blocks`) followed by
`archive_tail`; the bytes equal what `tarfile` writes in USTAR format for the same members
(mtime 0, mode 0644, no owner), so a shard is the same whether one process or many wrote it.
"""
from __future__ import annotations

import tarfile
from collections.abc import Sequence

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE


def member_blocks(name: str, data: bytes) -> bytes:
    """One regular-file member: its USTAR header, the data, zero padding to a 512-byte block."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    header = info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    return header + data + b"\0" * (-len(data) % BLOCK)


def member_names(key: str, exts: Sequence[str]) -> list[str]:
    """The tar names of a sample's members: `{key}.{ext}`."""
    return [f"{key}.{ext}" for ext in exts]


def sample_blocks(key: str, members: Sequence[tuple[str, bytes]]) -> tuple[bytes, list[str]]:
    """The adjacent members `{key}.{ext}` of one sample, and their names."""
    names = member_names(key, [ext for ext, _ in members])
    return b"".join(member_blocks(n, data) for n, (_, data) in zip(names, members)), names


def archive_tail(size: int) -> bytes:
    """What ends an archive of `size` bytes: two zero blocks, then zeros up to a whole record."""
    end = size + 2 * BLOCK
    return b"\0" * (2 * BLOCK + (-end % RECORD))
