"""Every import points down the layers of docs/ARCHITECTURE.md; a new arrow upwards fails here, naming the
file and the import, before it turns two packages into one tangle."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package (or sub-package) → the packages it may import; itself is always allowed
ALLOWED = {
    "schemas": set(),
    "training_bridge": set(),  # its __init__ only
    "corpus": {"schemas"},
    "model": {"corpus"},  # UserError only: the model knows nothing of builds or corpora
    "operators": {"schemas", "corpus", "model"},
    "operators.docs": {"schemas", "corpus", "model", "operators"},
    "operators.images": {"schemas", "corpus", "model", "operators"},
    "operators.videos": {"schemas", "corpus", "model", "operators"},
    "pipelines": {"schemas", "corpus", "model", "operators", "operators.docs", "operators.images", "operators.videos"},
    "stats": {"schemas", "corpus"},
    "training_bridge.data": {"schemas", "corpus", "model"},
    "training_bridge.train": {"schemas", "corpus", "model", "training_bridge.data"},
    "training_bridge.rl": {"schemas", "corpus", "model", "training_bridge.data", "training_bridge.train"},
}
TOP = {"cli"}  # the command line sits on everything
UNITS = sorted(ALLOWED, key=len, reverse=True)


def unit(module: str) -> str | None:
    """The layer unit a dotted module belongs to (the longest matching key), or None outside the project."""
    for u in UNITS:
        if module == u or module.startswith(u + "."):
            return u
    return next((t for t in TOP if module == t or module.startswith(t + ".")), None)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def upward_arrows() -> list[str]:
    """`file:line imports module` for each import that leaves its unit's allowed set."""
    bad = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {"tests", "benchmarks", ".venv", "build"}:
            continue
        src = unit(".".join(rel.with_suffix("").parts))
        if src is None or src in TOP:
            continue
        for line, module in imports(path):
            dst = unit(module)
            if dst is not None and dst != src and dst not in ALLOWED[src]:
                bad.append(f"{rel}:{line} imports {module} ({src} → {dst})")
    return bad


def test_every_package_is_in_a_layer():
    packages = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in ROOT.glob("*/**/__init__.py")
                if p.relative_to(ROOT).parts[0] not in {"tests", "benchmarks", ".venv", "build"}}
    assert packages, "no package found"
    assert {p for p in packages if unit(p) is None} == set()


def test_no_import_points_up():
    assert upward_arrows() == []


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "bad.py").write_text("def f():\n    from pipelines.engine.run import run_build\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert upward_arrows() == ["corpus/bad.py:2 imports pipelines.engine.run.run_build (corpus → pipelines)"]
