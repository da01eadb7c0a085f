"""Are the generated inputs, and the bytes the build's own encoders write, the same on other x86-64 CPUs?

The same child runs natively and under qemu-x86_64 user-mode emulation as older CPU models (qemu 7.2's TCG
emulates up to AVX2 and FMA, no AVX-512), and their digests are compared, one line per item:
- inputs: every demo input (`pipelines.demo.inputs`: PDFs and scans, h264 videos, images);
- with --build, the build's steps run in the child's own process (qemu runs only that process, not the
  processes it starts, so no Ray): the docs operator chain on two demo documents, the scans' image-only PDF
  (OCR) and a text-layer booklet, with a digest after each operator (render, OCR, filter, samples); every
  demo video's sampled frames decoded to RGB by decord and by PyAV, and `extract_video`'s JPEG frames;
  every demo image through `ImageDecode` and its fingerprint (SHA-256, pHash).

    python benchmarks/cross_cpu_identity.py                      # inputs: native, Westmere, SandyBridge, Haswell
    python benchmarks/cross_cpu_identity.py --build --cpus Westmere

Emulation is slow (here, on 2 busy cores: the inputs 1.5-2 minutes per model, --build 26 minutes on
Westmere, mostly OCR) and not a proof for every CPU: qemu computes approximate instructions (rcpps,
rsqrtps) exactly where real CPUs of different vendors differ, and it has no AVX-512. Without qemu-x86_64
this prints "skipped: qemu-x86_64 not found" and exits 0.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("cross_cpu_identity")

CPU_MODELS = ("Westmere", "SandyBridge", "Haswell")  # SSE4.2; + AVX; + AVX2 and FMA
BUILD_DOCS = ("scans-image-only.pdf", "a5-booklet.pdf")  # the OCR path and the text-layer path


def digest(value: Any) -> str:
    """A sha256 hex of `value` (rows of bytes, arrays, numbers, strings, lists, dicts) that depends only
    on its content, type by type."""
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    import numpy as np

    if isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value):
            _feed(h, k)
            _feed(h, value[k])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(value, np.ndarray):
        h.update(f"nd{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (bytes, bytearray, memoryview)):
        h.update(b"b%d:" % len(value))
        h.update(bytes(value))
    else:  # str, int, float (repr is exact), bool, None
        h.update(f"{type(value).__name__}:{value!r};".encode())


def input_digests(out: Path) -> dict[str, str]:
    """Write every demo input under `out`; {"inputs/<kind>/<file>": sha256}."""
    from pipelines.demo.inputs import file_digests, write_demo_inputs

    folders = write_demo_inputs(out)
    return {f"inputs/{kind}/{name}": d for kind, folder in folders.items() for name, d in file_digests(folder).items()}


def docs_digests(docs: Path) -> dict[str, str]:
    """The docs build's operators, one after another on `BUILD_DOCS`: a digest of each document's rows after each."""
    from pipelines.docs import DocsConfig, docs_steps

    cfg = DocsConfig()
    cfg.run.seed = 0
    chain = docs_steps(cfg)[0].config
    out = {}
    for seq, name in enumerate(BUILD_DOCS):
        rows: list[dict[str, Any]] = [{"input_id": name, "source": str(docs / name), "shard_id": 0, "seq": seq,
                                       "kind": "pdf"}]
        for op, op_cfg in chain:
            rows = list(op(op_cfg).run_rows(rows))
            out[f"build/docs/{name}/{op.__name__}"] = digest(rows)
    return out


def videos_digests(videos: Path) -> dict[str, str]:
    """Each demo video's sampled frames as RGB from decord and from PyAV, and `extract_video`'s JPEG frames."""
    from operators.videos.frames import VideoFramesConfig, _open_decord, extract_video, sample_frames
    from operators.videos.probe import VideoProbe, decode_pyav

    cfg = VideoFramesConfig()
    out = {}
    for path in sorted(videos.glob("*.mp4")):
        vr = _open_decord(str(path), cfg.decode_threads)
        fps = float(vr.get_avg_fps())
        sampling = sample_frames(VideoProbe(len(vr), fps, 0, "decord"), cfg.sampling, path.name)
        wanted = sorted(set(sampling.frame_indices))
        out[f"build/videos/{path.name}/decord-rgb"] = digest(vr.get_batch(wanted).asnumpy())
        out[f"build/videos/{path.name}/pyav-rgb"] = digest([f for _, f in decode_pyav(str(path), wanted, fps)])
        for pyav_only in (False, True):
            frames = extract_video(str(path), cfg, path.name, pyav_only=pyav_only)["frames"]
            out[f"build/videos/{path.name}/{'pyav' if pyav_only else 'decord'}-jpeg"] = digest(frames)
    return out


def images_digests(images: Path) -> dict[str, str]:
    """Each demo image through `ImageDecode` (decode, resize, encode) and `fingerprint` (SHA-256, pHash)."""
    from operators.base import is_error
    from operators.images.ops import ImageDecode, ImageDecodeConfig, fingerprint

    op, cfg = ImageDecode(), ImageDecodeConfig()
    out = {}
    for path in sorted(p for p in images.iterdir() if p.suffix != ".txt"):
        row = {"input_id": path.name, "source": str(path), "shard_id": 0, "seq": 0, "kind": "image"}
        rows = list(op.run_rows([row]))
        out[f"build/images/{path.name}/decode"] = digest([r if not is_error(r) else r.get("error_type") for r in rows])
        try:
            out[f"build/images/{path.name}/fingerprint"] = digest(fingerprint(path.read_bytes(), cfg.max_source_pixels))
        except Exception as e:  # noqa: BLE001 - a refused image's verdict is its digest
            out[f"build/images/{path.name}/fingerprint"] = digest(type(e).__name__)
    return out


def child(out: Path, build: bool) -> None:
    """Run in the process being compared: print {item: digest} as JSON."""
    logging.disable(logging.WARNING)
    digests = input_digests(out)
    if build:
        digests |= docs_digests(out / "docs") | videos_digests(out / "videos") | images_digests(out / "images")
    print(json.dumps(digests, sort_keys=True))


def run_child(cpu: str | None, out: Path, build: bool) -> tuple[dict[str, str], float]:
    """The child natively (`cpu` None) or under qemu-x86_64 as `cpu`: (digests, seconds)."""
    cmd = [sys.executable, __file__, "--child", str(out)] + (["--build"] if build else [])
    if cpu:
        cmd = ["qemu-x86_64", "-cpu", cpu] + cmd
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    if res.returncode != 0:
        raise RuntimeError(f"{cpu or 'native'} child failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def cpu_flags() -> str:
    """This machine's CPU model and the SIMD sets that matter here."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    sets = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f") if f in flags]
    return f"{model} ({', '.join(sets)}), {len(os.sched_getaffinity(0))} CPUs"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpus", nargs="+", default=list(CPU_MODELS), help="qemu CPU models to compare with native")
    p.add_argument("--build", action="store_true", help="also the build's steps, in-process (slow under qemu)")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.build)
        return
    if shutil.which("qemu-x86_64") is None:
        print("skipped: qemu-x86_64 not found")
        return
    print(f"native: {cpu_flags()}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        out = Path(tmp) / "inputs"  # one path for every child: rows and records hold the inputs' paths
        for cpu in [None] + args.cpus:
            shutil.rmtree(out, ignore_errors=True)
            results[cpu or "native"], seconds = run_child(cpu, out, args.build)
            print(f"{cpu or 'native'}: {len(results[cpu or 'native'])} items in {seconds:.0f} s", flush=True)
    native = results.pop("native")
    same = 0
    for item, d in native.items():
        differ = [cpu for cpu, got in results.items() if got.get(item) != d]
        same += not differ
        if differ:
            print(f"DIFFERS {item}: on {', '.join(differ)}")
    print(f"{same} of {len(native)} items identical on native and {', '.join(results)}")


if __name__ == "__main__":
    main()
