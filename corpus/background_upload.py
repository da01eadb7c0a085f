"""Uploads that overlap the work producing them: a task keeps building samples while the previous
chunk of its shard goes to the object store.

`BackgroundUpload` wraps a writable (an fsspec multipart-upload file): `write` collects bytes into
chunks of `chunk` bytes handed to one uploader thread through a queue of `depth` chunks, so memory
stays under (depth + 2) chunks; `finish` writes the rest and waits; an upload error is raised by the
next `write` or by `finish`. `stop` abandons the remaining chunks (the caller aborts the upload).
"""
from __future__ import annotations

import queue
import threading
from typing import Any, BinaryIO

_DONE = object()  # the end of the chunks


class BackgroundUpload:
    """A write-only stream whose bytes reach `target` from a background thread, in order."""

    def __init__(self, target: BinaryIO, chunk: int = 8 << 20, depth: int = 2) -> None:
        self.target, self.chunk = target, chunk
        self._buf = bytearray()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="shard-upload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is _DONE or self._stopped:
                return
            if self._error is None:
                try:
                    self.target.write(data)
                except BaseException as e:  # noqa: BLE001 - handed to the writing thread
                    self._error = e

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: bytes) -> int:
        self._check()
        self._buf += data
        if len(self._buf) >= self.chunk:
            self._queue.put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def finish(self) -> None:
        """Send what is left and wait until every chunk reached the target."""
        if self._buf:
            self._queue.put(bytes(self._buf))
            self._buf.clear()
        self._queue.put(_DONE)
        self._thread.join()
        self._check()

    def stop(self) -> None:
        """Drop the chunks not yet sent and end the thread."""
        self._stopped = True
        self._buf.clear()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(_DONE)
        self._thread.join()
