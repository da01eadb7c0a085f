"""The model and trainer tests under the lowest transformers the project declares (`pyproject.toml`, `[train]`).

The rest of the suite runs under the newest release the venv resolved; this test reruns the model and trainer
tests in a second environment layered over the suite's venv: its own site-packages hold only the lowest
transformers and the dependency versions that release needs (pip installs them there: a few wheels,
seconds), and a `.pth` file appends the suite's site-packages after its own, so torch, the project (editable)
and everything else are the very same files. The layer lives inside the suite's venv
(`<venv>/lowest-transformers-<version>`), is built on first use and reused while that venv lives, and the
tests run in a subprocess of their own under a time budget (`BUDGET_S`).

torch's lower end (2.11, the GPU image's) is not tested here: the only torch builds this machine can install
without a multi-GB CUDA download are 2.13.0 (CPU, local wheel) and 2.14.1.
"""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 420
# The tests that call each transformers API the project uses, once: building and running the model (forward,
# generate, visual embeddings), tokenizers, checkpoint key names, attention implementations and masks, the KV
# cache of batched rollouts, activation checkpointing under FSDP2, the trainer's loop and units, and the GPU
# check itself (the GPU image runs 5.17). Left to the suite under the newest release: tests that repeat those
# calls for many steps to watch a loss fall or a reward rise (the SFT, RL and DPO runs on a Ray-built corpus,
# the overfitting test), the memory plan's byte counts, and the GPU check on a stripped interpreter.
MODEL_AND_TRAINER_TESTS = [
    "tests/test_model_minicpmv.py", "--deselect", "tests/test_model_minicpmv.py::test_tiny_model_overfits_real_samples",
    "tests/test_model_checkpoint.py", "tests/test_model_tokenizer.py", "tests/test_transformers_compat.py",
    "tests/test_packed_attention.py", "tests/test_train_scale.py", "tests/test_train_units.py",
    "tests/test_train_loop.py", "tests/test_fsdp.py",
    "tests/test_gpu_check.py::test_cpu_check_runs_every_section_and_records_each",
]


def lowest_transformers() -> str:
    """The lower bound of the `transformers` requirement in `[train]` (`>=X`)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    req = next(Requirement(r) for r in extras if Requirement(r).name == "transformers")
    return next(s.version for s in req.specifier if s.operator == ">=")


def layered_venv(version: str) -> Path:
    """The python of a venv whose own site-packages hold `transformers==version` over this venv's packages."""
    home = Path(sys.prefix) / f"lowest-transformers-{version}"
    python = home / "bin" / "python"
    ready = home / "ready"
    if ready.is_file():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(home)], check=True)
    own = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip())
    (own / "zz_suite_venv.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    f"transformers=={version}"], check=True)
    ready.write_text(version)
    return python


def test_model_and_trainer_tests_pass_under_the_lowest_transformers(tmp_path):
    version = lowest_transformers()
    python = layered_venv(version)
    seen = subprocess.run([str(python), "-c", "import torch, transformers; print(transformers.__version__, "
                           "transformers.__file__, torch.__file__)"], check=True, capture_output=True, text=True)
    got, where, torch_file = seen.stdout.split()
    assert Version(got) == Version(version) and where.startswith(str(python.parents[1]))  # the layer's own
    assert torch_file.startswith(sysconfig.get_paths()["purelib"])  # the suite's torch
    done = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp",
                           str(tmp_path / "run"), *MODEL_AND_TRAINER_TESTS], cwd=ROOT, capture_output=True, text=True,
                          timeout=BUDGET_S)
    assert done.returncode == 0, f"under transformers {version}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
