"""One build at a time per corpus: a `.lock` object holding the run id, written before any shard.

Two builds racing on one `--out` would write the same shards twice and interleave manifest updates, so
a build refuses to start while another holds the lock. A lock left by a dead build is taken over when
it is provably stale (same host, its process gone); otherwise the error says how to break it. On S3
and local disk the lock is taken with conditional writes, so two racing builds cannot both get it.
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

    def _holder(self) -> tuple[dict | None, str | None]:
        """The lock's record ({} when unreadable: held by an unknown build) and its version tag, or None."""
        try:
            data, tag = self.store.read_tagged(LOCK)
        except FileNotFoundError:
            return None, None
        try:
            held = json.loads(data)
        except ValueError:
            held = {}
        return (held if isinstance(held, dict) else {}), tag

    def acquire(self, break_lock: bool = False) -> None:
        """Take the lock, or raise UserError naming the build that holds it and what to do.

        Creating the lock is a conditional write (S3: `If-None-Match: *`; local: a hard link) and taking
        over a stale one replaces exactly the version judged stale (S3: `If-Match`), so of two builds
        racing for one `--out` only one gets it. Stores without conditional writes fall back to a read-back."""
        me = {"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        raced = UserError(f"another build took {self.store.child(LOCK)} at the same moment; run only one build per --out")
        held, tag = self._holder()
        if held is None:
            if not self.store.create(LOCK, json.dumps(me).encode()):
                raise raced
        elif held.get("run_id") != self.run_id:
            stale = held.get("host") == socket.gethostname() and not _alive(int(held.get("pid") or 0))
            if not (stale or break_lock):
                age = time.time() - float(held.get("started", time.time()))
                raise UserError(
                    f"{self.store.child(LOCK)} says build {held.get('run_id')} (host {held.get('host')}, pid "
                    f"{held.get('pid')}, started {age / 60:.0f} min ago) is writing this corpus; two builds on one "
                    "--out would write the same shards twice. Wait for it to finish, or, if it is dead (a crashed "
                    f"driver on another machine), rerun with --set run.break_lock=true or delete {self.store.child(LOCK)}.")
            log.warning("taking over the lock of build %s (%s) on %s", held.get("run_id"),
                        "its process is gone" if stale else "run.break_lock", self.store.url)
            if not self.store.replace(LOCK, json.dumps(me).encode(), tag):
                raise raced
        if (self._holder()[0] or {}).get("run_id") != self.run_id:  # stores without conditional writes
            raise raced

    def release(self) -> None:
        """Remove the lock if it is still this run's."""
        if (self._holder()[0] or {}).get("run_id") == self.run_id:
            self.store.delete(LOCK)
