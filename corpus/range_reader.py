"""Byte ranges of shard tars, local or through fsspec, with a few files kept open for sequential reads.

A stream reads its pieces front to back, so consecutive `read(url, offset, size)` calls on one shard are
served from one open file and its read-ahead buffer; fetching a sample elsewhere (after a resume) opens
that shard too. A read that returns fewer bytes than asked means the tar was cut short; the caller gets
the short bytes and the tar parser reports the sample as truncated.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import IO

import fsspec

READ_AHEAD = 4 << 20


class RangeReader:
    """Reads `[offset, offset + size)` of shard files, keeping the `max_open` most recent ones open."""

    def __init__(self, max_open: int = 4, block_size: int = READ_AHEAD) -> None:
        self.max_open, self.block_size = max_open, block_size
        self._files: OrderedDict[str, IO[bytes]] = OrderedDict()

    def _file(self, url: str) -> IO[bytes]:
        f = self._files.get(url)
        if f is None:
            if "://" in url:
                fs, path = fsspec.core.url_to_fs(url)  # block size per file: s3fs refuses it as an fs option
                f = fs.open(path, "rb", block_size=self.block_size, cache_type="readahead")
            else:
                f = open(url, "rb", buffering=self.block_size)
            self._files[url] = f
            while len(self._files) > self.max_open:
                self._files.popitem(last=False)[1].close()
        self._files.move_to_end(url)
        return f

    def read(self, url: str, offset: int, size: int) -> bytes:
        """The bytes at `[offset, offset + size)` of `url` (fewer when the file ends early)."""
        f = self._file(url)
        if f.tell() != offset:
            f.seek(offset)
        return f.read(size)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
