"""A multi-node Ray cluster on one machine (`ray start` processes), for tests and scaling benchmarks.

Each node is a `ray start --block` process in its own session, so one node can be killed outright
(its raylet and every worker on it) while the others go on, as a node failure in a real cluster.
Token authentication is off for this loopback cluster; builds against it need `env` passed along.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """A head and worker nodes with the given CPU counts; use as a context manager."""

    def __init__(self, cpus_per_node: list[int], log_dir: Path, timeout: float = 90) -> None:
        self.cpus_per_node, self.log_dir, self.timeout = cpus_per_node, Path(log_dir), timeout
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
        self.nodes: list[subprocess.Popen] = []

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        return subprocess.Popen([RAY, "start", "--block", "--node-ip-address=127.0.0.1", *args], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, env=self.env)

    def live_nodes(self) -> int:
        """Nodes the cluster reports alive (-1 when it cannot be reached)."""
        code = (f"import ray; ray.init(address='{self.address}', logging_level='ERROR'); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=self.env)
        lines = out.stdout.strip().splitlines()
        return int(lines[-1]) if out.returncode == 0 and lines else -1

    def _wait(self, n: int) -> None:
        deadline = time.time() + self.timeout
        while self.live_nodes() != n:
            if time.time() > deadline:
                raise TimeoutError(f"the Ray cluster at {self.address} never had {n} live nodes; see {self.log_dir}")
            time.sleep(1)

    def __enter__(self) -> "LocalCluster":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            head_cpus, *workers = self.cpus_per_node
            self.nodes.append(self._start(["--head", f"--port={self.port}", f"--num-cpus={head_cpus}",
                                           "--include-dashboard=false"], "head"))
            self._wait(1)
            for i, cpus in enumerate(workers, 1):
                self.nodes.append(self._start([f"--address={self.address}", f"--num-cpus={cpus}"], f"worker{i}"))
                self._wait(i + 1)
        except BaseException:
            self.__exit__()
            raise
        return self

    def kill_node(self, index: int) -> None:
        """SIGKILL node `index` (0 is the head) with its raylet and workers."""
        p = self.nodes[index]
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

    def __exit__(self, *exc: object) -> None:
        for i in reversed(range(len(self.nodes))):
            self.kill_node(i)
