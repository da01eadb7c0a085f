"""Every generated demo input (PDFs, scans, videos, images) is the same bytes whatever the number of CPUs:
generated once in a process bound to one CPU and once in a process free to use all of them
(`python -m pipelines.demo.inputs`, under `os.sched_setaffinity`). Encoders that size their thread pools
by the CPU count (x264 does by default) would fail this. Other CPU models: `benchmarks/cross_cpu_identity.py`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.demo.inputs import encoder_of

REPO = Path(__file__).resolve().parents[1]


def _generate(out: Path, cpus: set[int]) -> subprocess.Popen:
    """A child process bound to `cpus` (from before it starts, so every library counts only those) writing
    the demo inputs into `out`; it prints their digests."""
    return subprocess.Popen([sys.executable, "-m", "pipelines.demo.inputs", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.sched_setaffinity(0, cpus))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_demo_inputs_are_the_same_bytes_on_one_cpu_and_on_all(tmp_path):
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        pytest.skip("this process may use one CPU only: nothing to compare")
    one, every = _generate(tmp_path / "one", {min(cpus)}), _generate(tmp_path / "all", cpus)
    digests = []
    for child in (one, every):
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        digests.append({f"{kind}/{name}": d for kind, files in json.loads(out).items() for name, d in files.items()})
    assert len(digests[0]) >= 30
    differ = sorted(n for n in digests[0].keys() | digests[1].keys() if digests[0].get(n) != digests[1].get(n))
    assert not differ, (f"generated with 1 CPU and with {len(cpus)}, these inputs differ: {differ} "
                        f"(encoders: {sorted({encoder_of(n) for n in differ})})")
