"""A local S3 server for benchmarks: moto's standalone server in its own process on 127.0.0.1.

`local_s3(bucket)` starts `python -m moto.server` as a subprocess (so its CPU is not charged to the
benchmark process and can be measured on its own: `LocalS3.cpu_seconds()`), with objects kept in
memory (`IN_MEMORY`), points `AWS_ENDPOINT_URL` and test credentials at it (every Ray process and
subprocess started afterwards reaches it as it would a real store) and creates `bucket`. Use it
before Ray starts.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Iterator

import psutil

#: moto keeps objects up to this size in memory instead of spilling them to temporary files (its default,
#: ~5 MiB, spills every 8 MiB part and every completed shard): measured with s3_write_path.py, the
#: server's CPU per MB falls ~25% (13-14.5 -> 10.2-10.5 ms/MB). The spill is a cost of this stand-in
#: sharing the build's cores, not of a store; the bytes and the protocol are the same.
IN_MEMORY = {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(512 * 1024 * 1024)}


@dataclass
class LocalS3:
    """A running server: the bucket URL, the endpoint and the server's process id."""

    url: str
    endpoint: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server process has used so far."""
        t = psutil.Process(self.pid).cpu_times()
        return t.user + t.system


def start_moto(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """Start moto's S3 server in a subprocess on a free port; returns (process, endpoint) once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return proc, endpoint
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"moto.server exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto.server did not answer within 30 s")


@contextlib.contextmanager
def local_s3(bucket: str) -> Iterator[LocalS3]:
    """Run a moto S3 server process for the duration of the block; yields it (`.url` is `s3://{bucket}`)."""
    import s3fs

    proc, endpoint = start_moto(IN_MEMORY)
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    try:
        s3fs.S3FileSystem().mkdir(bucket)
        yield LocalS3(f"s3://{bucket}", endpoint, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
