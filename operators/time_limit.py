"""Running a function in a child process under a hard time limit.

decord can hang inside native code while holding the interpreter lock (dmlc/decord#373), where no
thread-based timeout can interrupt it. `TimeLimitedWorker` keeps one long-lived child process (so the
imports are paid once, before the first call's clock starts), sends it one call at a time over a pipe,
and kills it when a call overruns; the next call starts a fresh child. The child is started with
`spawn`, never `fork`: forking a Ray worker that runs threads is unsafe.

Exceptions raised in the child come back as they were for `Reject` (reason, category, error type kept)
and as `ChildError(type name, message)` for anything else, so the operator base records the original
type. A child that dies (a crash in native code) raises `ChildError("DecoderCrashed", ...)`.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

from operators.base import Reject

log = logging.getLogger(__name__)

READY = "ready"


class ChildError(Exception):
    """An exception raised in the child, by its type name and message."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message = type_name, message


def _serve(conn: Connection, preload: tuple[Callable[..., Any], ...]) -> None:
    """The child's loop: say ready, then run calls until the pipe closes. `preload` is not called: its
    functions travel by reference, so unpickling them imported their modules before this loop began."""
    del preload
    conn.send(READY)
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", fn(*args)))
        except Reject as r:
            conn.send(("reject", (r.reason, r.category, r.error_type)))
        except Exception as e:  # noqa: BLE001 - every failure goes back to the parent
            conn.send(("error", (type(e).__name__, str(e))))


class TimeLimitedWorker:
    """One child process that runs calls under a time limit; see the module docstring."""

    def __init__(self, preload: tuple[Callable[..., Any], ...] = (), start_timeout: float = 120.0) -> None:
        """`preload`: functions the child will run, whose modules it imports before it says ready."""
        self.preload, self.start_timeout = preload, start_timeout
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        """Start the child (if not running) and wait until its imports are done."""
        if self._proc is not None and self._proc.is_alive():
            return
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, self.preload), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout) or parent.recv() != READY:
            self.kill()
            raise ChildError("WorkerStartFailed", f"the child process did not start within {self.start_timeout}s")

    def call(self, fn: Callable[..., Any], args: tuple, timeout: float) -> Any:
        """`fn(*args)` in the child; `TimeoutError` (child killed) when it takes over `timeout` seconds."""
        self.start()
        assert self._conn is not None
        started = time.monotonic()
        self._conn.send((fn, args))
        try:
            ready = self._conn.poll(timeout)
            status, payload = self._conn.recv() if ready else (None, None)
        except (EOFError, OSError):
            code = self._proc.exitcode if self._proc is not None else None
            self.kill()
            raise ChildError("DecoderCrashed", f"the decoding process died (exit code {code})") from None
        if not ready:
            self.kill()
            raise TimeoutError(f"over the {timeout:g} s limit; decoding process killed after "
                               f"{time.monotonic() - started:.1f} s")
        if status == "reject":
            raise Reject(*payload)
        if status == "error":
            raise ChildError(*payload)
        return payload

    def kill(self) -> None:
        """Kill the child now (the next call starts a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(timeout=5)
            self._proc = None
