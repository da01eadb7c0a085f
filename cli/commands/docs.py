"""`mmcorpus docs build`: the document knowledge + text recognition corpus."""
from __future__ import annotations

import argparse

from cli.args import add_dedup_against, register_build
from pipelines.calibration.run import add_calibrate

DOCS_HELP = """\
Render every page of the input PDFs (and page images), find its text regions (PDF text layer; OCR for
pages without one), corrupt a few regions at a random noise level and ask for their original text:

  light noise  -> task "ocr"           (read the text)
  medium noise -> task "reconstruct"   (visual cues + context)
  masked       -> task "infer_masked"  (knowledge + context)

plus one clean full-page transcription per page. Encrypted, broken, empty or oversized documents and
pages that fail to render are written to DIR/errors/ with stage and reason; the run goes on.

The noise strengths (samples.noise.strength) are fitted so that two independent OCR readers agree on
each level at 144 dpi on the demo corpus and on real papers. For your documents, check a built
corpus with `mmcorpus docs calibrate DIR --no-fit` (exit 1 when a level misses its band), or let the
build fit them on its own pages first: --set calibrate.pages=24 (a few minutes before the build
starts; the ranges are recorded in manifest.json and a resumed build reuses them).

OCR runs in the build's tasks by default. On a cluster with GPUs, a pool of OCR actors reads the pages
that need OCR while the CPU tasks render, filter and write (the same corpus as without the pool):
  --set ocr.pool.actors=4 --set ocr.pool.num_gpus=0.25 --set ocr.pool.provider=cuda
(provider cuda needs onnxruntime-gpu on the GPU nodes: pip install 'mmcorpus[gpu-ocr]'; ray_cluster.yaml
declares the node type). ocr.pool.provider=cpu runs the same pool on CPUs.
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add `docs build` and `docs calibrate`."""
    gsub = register_build(sub, "docs", "document", DOCS_HELP,
                   "PDF files, page images, folders, globs ('docs/**/*.pdf'), @list files or fsspec URLs",
                   "pipelines.docs:DOCS")
    add_dedup_against(gsub.choices["build"], "docs", "pages")
    add_calibrate(gsub)
