"""What the visibility and text-layer checks remove, per document: a table of pages and regions.

Runs render → OCR/layer check → region filter (the docs pipeline before sampling) on each PDF, in one
process, and prints per document: pages in, pages per text path (text_layer / mixed / ocr), pages
filtered (by error type), text-layer lines and spans left out by reason, and the line regions kept.
The same documents with the visibility checks off give the baseline count of text-layer lines.

    python benchmarks/text_checks.py ../shared/fixtures/pdfs            # the fixture PDFs
    python benchmarks/text_checks.py --demo                             # the demo corpus's PDFs
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

from operators.base import Chain
from operators.docs.filters import RegionFilter, RegionFilterConfig
from operators.docs.ocr import OcrRegions, OcrRegionsConfig
from operators.docs.pdf_pages import PdfPages, PdfPagesConfig
from operators.docs.visibility import VisibilityConfig


def run(path: Path, visible: bool) -> tuple[Counter[str], float]:
    """Counts of one document through render → OCR → filter, and the seconds it took."""
    pages = PdfPagesConfig(visibility=VisibilityConfig(enabled=visible))
    chain = Chain(((PdfPages, pages), (OcrRegions, OcrRegionsConfig()), (RegionFilter, RegionFilterConfig())))
    row = {"input_id": path.name, "source": str(path), "kind": "pdf", "shard_id": 0, "seq": 0}
    c: Counter[str] = Counter()
    start = time.perf_counter()
    for out in chain.run_rows([row]):
        if out.get("error_type"):
            c[f"{out['error_stage']}:{out['error_type']}"] += 1
            continue
        c["pages"] += 1
        c[f"path:{out.get('text_path')}"] += 1
        c["lines"] += sum(r["granularity"] == "line" for r in out["regions"])
        for reason, n in dict(out.get("rejected_regions") or {}).items():
            c[f"rejected:{reason}"] += n
    return c, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", type=Path, help="PDF files or folders")
    ap.add_argument("--demo", action="store_true", help="add the demo corpus's PDFs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [p for i in args.inputs for p in (sorted(i.glob("*.pdf")) if i.is_dir() else [i])]
        if args.demo:
            from pipelines.demo.documents import generate_demo_corpus

            paths += [p for p in generate_demo_corpus(Path(tmp)) if p.suffix == ".pdf"]
        total: Counter[str] = Counter()
        print(f"{'document':34s} {'s':>6s} {'lines off':>9s} {'lines on':>8s}  counts (checks on)")
        for p in paths:
            base, _ = run(p, visible=False)
            on, secs = run(p, visible=True)
            total.update(on)
            total["lines_without_checks"] += base["lines"]
            detail = ", ".join(f"{k} {v}" for k, v in sorted(on.items()) if k != "lines")
            print(f"{p.name[:34]:34s} {secs:6.1f} {base['lines']:9d} {on['lines']:8d}  {detail}")
        print("total:", ", ".join(f"{k} {v}" for k, v in sorted(total.items())))


if __name__ == "__main__":
    main()
