"""Byte-identity of builds: digests of every shard, stats and error table the builders write for the demo
corpus (docs, videos, images) and the shared fixtures, compared with `tests/golden/build_digests.json`.

The golden file was written by the code before a refactor; a refactor that claims "behaviour identical"
must reproduce it. Regenerate it only for an intended change of the output, and say so in the commit:

    python -m tests.build_identity --update            # demo corpus (+ ../shared/fixtures when present)
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import json
import logging
import shutil
from importlib import metadata
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "build_digests.json"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ROOT = Path("/tmp/mmcorpus-build-identity")
# the libraries whose encoders decide the bytes: a different version may legitimately change them
LIBRARIES = ("pymupdf", "pillow", "numpy", "pyarrow", "rapidocr-onnxruntime", "onnxruntime", "decord", "av")
# fields that describe one run, not the corpus (times, ids, paths, the driver's traffic)
VOLATILE = {"run_id", "seconds", "started", "out_dir", "driver_bytes"}
# what a manifest's run entry says about the corpus; the rest of an entry is the run's own log
RUN_FIELDS = ("config", "counts", "lost_inputs", "shard_names")


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


DEMO = ("demo-docs", "demo-videos", "demo-images")
FIXTURE = ("fixture-pdfs", "fixture-videos")


def copy_fixtures(folder: Path) -> None:
    """The shared fixture PDFs, and the fixture videos with captions in a JSONL manifest."""
    shutil.copytree(FIXTURES / "pdfs", folder / "pdfs")
    shutil.copytree(FIXTURES / "videos", folder / "videos")
    rows = [{"video": f"videos/{p.name}", "caption": f"a clip called {p.stem}"}
            for p in sorted((folder / "videos").iterdir())]
    (folder / "videos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def build_all(names: tuple[str, ...], root: Path = ROOT) -> dict[str, dict[str, str]]:
    """Build the named corpora under `root` (emptied first; sample records hold the inputs' paths, so the
    path is fixed) with seed 0 and 3 inputs per shard; digests by corpus name."""
    with open(f"{root}.lock", "w") as lock:  # the path is fixed: concurrent runs take turns
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_all(names, root)


def _build_all(names: tuple[str, ...], root: Path) -> dict[str, dict[str, str]]:
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
        digests[name] = corpus_digests(root / name)
    return digests


def differences(expected: dict[str, str], got: dict[str, str]) -> list[str]:
    """Files missing, extra or with other bytes, one line each."""
    lines = [f"missing {k}" for k in sorted(expected.keys() - got.keys())]
    lines += [f"extra {k}" for k in sorted(got.keys() - expected.keys())]
    lines += [f"differs {k}" for k in sorted(expected.keys() & got.keys()) if expected[k] != got[k]]
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--update", action="store_true", help="rewrite the golden file from this build")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    digests = build_all(DEMO + (FIXTURE if FIXTURES.is_dir() else ()))
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {"corpora": {}}
    for name, files in digests.items():
        diff = differences(golden["corpora"].get(name, {}), files)
        print(f"{name}: {len(files)} files, {'identical' if not diff else f'{len(diff)} differences'}")
        for line in diff[:20]:
            print("   ", line)
    if args.update:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({"libraries": library_versions(), "corpora": digests}, indent=1, sort_keys=True)
                          + "\n")
        print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
