"""One build at a time per corpus: a `.lock` object holding the run id, written before any shard.

Two builds racing on one `--out` would write the same shards twice and interleave manifest updates, so
a build refuses to start while another holds the lock. A lock left by a dead build is taken over when
it is provably stale (same host, its process gone); otherwise the error says how to break it.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from corpus.errors import UserError
from corpus.storage import Store

log = logging.getLogger(__name__)

LOCK = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class BuildLock:
    """The lock of one build; `acquire` before writing, `release` when done."""

    store: Store
    run_id: str

    def _holder(self) -> dict | None:
        if not self.store.exists(LOCK):
            return None
        try:
            return json.loads(self.store.read(LOCK))
        except (ValueError, FileNotFoundError):
            return None

    def acquire(self, break_lock: bool = False) -> None:
        """Take the lock, or raise UserError naming the build that holds it and what to do."""
        held = self._holder()
        if held and held.get("run_id") != self.run_id:
            stale = held.get("host") == socket.gethostname() and not _alive(int(held.get("pid", 0)))
            if stale or break_lock:
                log.warning("taking over the lock of build %s (%s) on %s", held.get("run_id"),
                            "its process is gone" if stale else "run.break_lock", self.store.url)
            else:
                age = time.time() - float(held.get("started", time.time()))
                raise UserError(
                    f"{self.store.child(LOCK)} says build {held.get('run_id')} (host {held.get('host')}, pid "
                    f"{held.get('pid')}, started {age / 60:.0f} min ago) is writing this corpus; two builds on one "
                    "--out would write the same shards twice. Wait for it to finish, or, if it is dead (a crashed "
                    f"driver on another machine), rerun with --set run.break_lock=true or delete {self.store.child(LOCK)}.")
        me = {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        self.store.put(LOCK, json.dumps(me).encode())
        if (self._holder() or {}).get("run_id") != self.run_id:
            raise UserError(f"another build took {self.store.child(LOCK)} at the same moment; run only one build per --out")

    def release(self) -> None:
        """Remove the lock if it is still this run's."""
        if (self._holder() or {}).get("run_id") == self.run_id:
            self.store.delete(LOCK)
