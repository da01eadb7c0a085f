"""The optional-dependency split holds: a builder (`mmcorpus[data]`) runs without torch, a training node
(`mmcorpus[train]`) without Ray or DuckDB, and a command that needs the other extra says which to install.
Each check runs in a fresh interpreter in which the other extra's packages cannot be imported."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from cli.failures import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
DATA_ONLY = ("ray", "pandas", "webdataset", "pymupdf", "decord", "rapidocr_onnxruntime", "imagehash", "duckdb",
             "matplotlib")
TRAIN_ONLY = ("torch", "transformers", "safetensors")


def run_without(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    """Run `code` in a new interpreter where importing any of `blocked` raises ModuleNotFoundError."""
    prelude = textwrap.dedent(f"""
        import importlib.util
        import sys
        from importlib.abc import MetaPathFinder
        BLOCKED = {set(blocked)!r}
        class Block(MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.partition(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Block())
        _find_spec = importlib.util.find_spec  # libraries probing for an optional package see it absent
        importlib.util.find_spec = lambda name, *a: None if name.partition(".")[0] in BLOCKED else _find_spec(name, *a)
        """)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_the_extras_table_matches_pyproject():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {extra: {re.split(r"[\[<>=]", req)[0].replace("-", "_") for req in extras[extra]} for extra in ("data", "train")}
    assert EXTRAS == {**dict.fromkeys(DATA_ONLY, "data"), **dict.fromkeys(TRAIN_ONLY, "train")}
    assert set(DATA_ONLY) <= names["data"] and set(TRAIN_ONLY) <= names["train"]
    assert not names["data"] & set(TRAIN_ONLY) and not names["train"] & set(DATA_ONLY)


def test_a_builder_needs_no_torch():
    r = run_without(TRAIN_ONLY, """
        import pipelines.docs, pipelines.images, pipelines.videos, pipelines.export, stats.report, stats.show
        from cli.main import main
        try:
            main(["docs", "build", "--help"])
        except SystemExit as e:  # argparse's --help
            assert e.code == 0
        """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage: mmcorpus docs build" in r.stdout


def test_a_training_node_needs_no_ray_and_names_the_extra_it_lacks(tmp_path):
    r = run_without(DATA_ONLY, f"""
        import training_bridge.train.sft, training_bridge.rl.grpo, training_bridge.rl.dpo, corpus.index
        from cli.main import main
        try:
            main(["train", "sft", "--help"])
        except SystemExit as e:
            assert e.code == 0
        sys.exit(main(["show", {str(tmp_path)!r}, "somekey"]))
        """)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "usage: mmcorpus train sft" in r.stdout
    assert "pip install 'mmcorpus[data]'" in r.stderr and "`mmcorpus show` needs duckdb" in r.stderr
