"""FSDP2 on two gloo processes: the same losses as one process (with activation checkpointing on), and an
exact resume from a checkpoint written under FSDP. The runs are `tests/fsdp_worker.py` (real tiny model,
packed text + image batches, chunked log-probs, AdamW, clipping, checkpointing)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = str(Path(__file__).with_name("fsdp_worker.py"))
STEPS = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(out: Path, *args: str, ranks: int = 1) -> None:
    launch = [sys.executable, WORKER] if ranks == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks), "--master-port",
        str(_free_port()), WORKER]
    done = subprocess.run([*launch, str(out), "--steps", str(STEPS), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def _losses(out: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    return {d["step"]: d["loss"] for d in lines}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict[int, float]:
    """The reference run, in this process (no process group: unwrapped)."""
    sys.path.insert(0, str(Path(WORKER).parent))
    from fsdp_worker import main

    out = tmp_path_factory.mktemp("one")
    threads = torch.get_num_threads()
    try:
        main([str(out), "--steps", str(STEPS)])
    finally:
        torch.set_num_threads(threads)
    return _losses(out)


def test_fsdp_on_two_processes_matches_one_and_resumes_exactly(one_process, tmp_path):
    assert sorted(one_process) == list(range(1, STEPS + 1)) and one_process[STEPS] < one_process[1]
    # Two ranks, sharded, layers recomputed in backward; the run stops ("crashes") right after a checkpoint.
    _run(tmp_path, "--parallel", "fsdp", "--activation-checkpointing", "--save-at", "1", "--stop-at", "1", ranks=2)
    assert _losses(tmp_path) == pytest.approx({1: one_process[1]}, rel=1e-5)
    assert (tmp_path / "checkpoints" / "step-00000001").is_dir()
    _run(tmp_path, "--parallel", "fsdp", ranks=2)  # resumes after step 1
    assert _losses(tmp_path) == pytest.approx(one_process, rel=1e-5)
