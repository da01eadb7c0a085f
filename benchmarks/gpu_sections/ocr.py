"""Section `ocr`: OCR pages/s of the docs build's engine (`operators/docs/ocr_engine.py`) on onnxruntime's CPU
provider and on its CUDA provider (`ocr.pool.provider`), on the same page images: the demo generator's scans
(`pipelines/demo/documents.py`, 150 dpi letter pages), each read whole (detection, then recognition of every
line), as one OCR actor of a pool reads a page.

Figures: `cpu_pages_per_s` (one session thread, as a shard task or a CPU actor runs it), `cuda_pages_per_s`
and `cuda_speedup` (one actor's sessions on the GPU), and `same_lines`, the share of lines whose text both
providers read alike. An optional measurement, outside the targets: it never fails the check for what the
interpreter lacks. Without onnxruntime-gpu (the GPU image has the CPU wheel) or a CUDA device, the CUDA figures
are None and `cuda` says why; without the OCR's or the generator's modules (rapidocr-onnxruntime and its
pyclipper and shapely, pymupdf: absent from the GPU image, carry their wheels), nothing is measured and
`missing` names them. `--sections ocr` runs it alone.
"""
from __future__ import annotations

import time
from typing import Any

from benchmarks.check_sections import Sections
from benchmarks.gpu_sections.context import Context

OCR_MODULES = ("numpy", "PIL", "cv2", "yaml", "onnxruntime", "rapidocr_onnxruntime", "pyclipper", "shapely", "pymupdf")


def scan_pages(ctx: Context) -> list[Any]:
    """The demo generator's scans as RGB arrays (at most `ctx.scale.ocr_pages`), written once to the scratch folder."""
    import numpy as np
    from PIL import Image

    from pipelines.demo.documents import generate_demo_corpus

    folder = ctx.scratch / "ocr_demo"
    scans = sorted(folder.glob("scan-*.png")) or [p for p in generate_demo_corpus(folder) if p.name.startswith("scan-")]
    return [np.asarray(Image.open(p).convert("RGB")) for p in scans[: ctx.scale.ocr_pages]]


def read_pages(pages: list[Any], provider: str) -> tuple[float, list[list[str]], list[str]]:
    """(pages/s of a timed pass after a warm-up pass, each page's line texts, the providers the sessions ran on)."""
    from operators.docs.ocr_backends import RapidOcrBackend
    from operators.docs.ocr_engine import engine

    backend = RapidOcrBackend(provider=provider)  # type: ignore[arg-type]
    for page in pages:  # model load, and on CUDA the kernels' first shapes
        backend.recognize(page)
    t0 = time.perf_counter()
    texts = [[line.text for line in backend.recognize(page)] for page in pages]
    return len(pages) / (time.perf_counter() - t0), texts, engine(backend.config, backend.provider).providers()


def _same_lines(a: list[list[str]], b: list[list[str]]) -> float:
    pairs = [(x, y) for pa, pb in zip(a, b) for x, y in zip(pa, pb)]
    longest = sum(max(len(pa), len(pb)) for pa, pb in zip(a, b))
    return round(sum(x == y for x, y in pairs) / longest, 3) if longest else 1.0


def ocr(s: Sections, ctx: Context) -> dict[str, Any]:
    import importlib.util

    missing = [m for m in OCR_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        s.record("not measured", missing=missing)
        return {"measured": False, "missing": missing, "cpu_pages_per_s": None, "cuda_pages_per_s": None}
    import onnxruntime

    pages = scan_pages(ctx)
    cpu, cpu_texts, _ = read_pages(pages, "cpu")
    figures: dict[str, Any] = {"measured": True, "pages": len(pages), "page_size": list(pages[0].shape[:2]),
                               "lines": sum(map(len, cpu_texts)), "cpu_pages_per_s": round(cpu, 3),
                               "cuda_pages_per_s": None, "cuda_speedup": None, "same_lines": None}
    s.record("cpu provider", pages_per_s=figures["cpu_pages_per_s"], lines=figures["lines"])
    if not ctx.cuda:
        figures["cuda"] = "not measured: a --cpu run"
    elif "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        figures["cuda"] = (f"absent: onnxruntime {onnxruntime.__version__} has {onnxruntime.get_available_providers()}; "
                           "pip install onnxruntime-gpu (mmcorpus[gpu-ocr]) for the CUDA figures")
    else:
        gpu, gpu_texts, in_use = read_pages(pages, "cuda")
        if "CUDAExecutionProvider" not in in_use:
            figures["cuda"] = f"absent: the CUDA provider did not load (sessions ran on {in_use}): check CUDA/cuDNN"
        else:
            figures.update(cuda="measured", cuda_pages_per_s=round(gpu, 3), cuda_speedup=round(gpu / cpu, 2),
                           same_lines=_same_lines(cpu_texts, gpu_texts))
            s.record("cuda provider", pages_per_s=figures["cuda_pages_per_s"], speedup=figures["cuda_speedup"],
                     same_lines=figures["same_lines"])
    print(f"   OCR pages/s: CPU {figures['cpu_pages_per_s']}, CUDA {figures['cuda_pages_per_s']} "
          f"({figures.get('cuda')})", flush=True)
    return figures
