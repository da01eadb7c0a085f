"""Noise calibration, measured: how legible each corrupted region of a docs build is to an OCR engine.

Contract:
- `corpus_pages(inputs, cfg, pages_per_doc)`: the page rows a docs build would sample from (split,
  render, OCR, region filter: the build's own operators, no Ray), at most `pages_per_doc` evenly spaced
  pages per document; error rows are dropped.
- `measure(pages, samples_cfg, reader, max_regions, seed)`: runs `DocSamples` (the build's code path,
  so the same seed gives the build's very samples) on the pages in a seeded order and, for each
  corrupted region, reads the region's crop from the sample JPEG and the same box of the clean page
  (JPEG-encoded at the same quality) line by line with `reader`; one `CALIBRATION_SCHEMA` row per region, up to
  `max_regions`. CER as defined in `operators.docs.legibility`.
- `summarise(rows)`: median CER, readable share (CER <= READABLE) and counts per level x family x
  granularity, with the clean crops' median; `check_targets(rows)`: the issue's targets, one line each.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from corpus.inputs import expand_inputs
from operators.base import Chain, is_error
from operators.docs.corrupt import background
from operators.docs.filters import RegionFilter
from operators.docs.legibility import LineReader, cer, line_boxes, read_region
from operators.docs.ocr import OcrRegions
from operators.docs.page_image import page_pixels
from operators.docs.pdf_pages import PdfPages
from operators.docs.samples import DocSamples, DocSamplesConfig
from operators.docs.split import SplitDocuments
from schemas.record import SampleRecord

log = logging.getLogger(__name__)

READABLE = 0.2  # a region counts as readable when its CER is at most this
CALIBRATION_SCHEMA = pa.schema([
    ("key", pa.string()), ("input_id", pa.string()), ("page", pa.int32()), ("granularity", pa.string()),
    ("level", pa.string()), ("family", pa.string()), ("strength", pa.float64()), ("glyph_px", pa.float64()),
    ("chars", pa.int32()), ("cer", pa.float64()), ("clean_cer", pa.float64()), ("read", pa.string()),
    ("text", pa.string()),
])


def corpus_pages(inputs: list[str], cfg: Any, pages_per_doc: int = 6) -> Iterator[dict[str, Any]]:
    """Page rows (after the region filter) of the documents `inputs` name; `cfg` is a `DocsConfig`."""
    from pipelines.docs import DOC_KINDS

    items = expand_inputs(inputs, DOC_KINDS)
    chain = Chain(((SplitDocuments, cfg.split), (PdfPages, cfg.pages), (OcrRegions, cfg.ocr), (RegionFilter, cfg.filter)))
    for seq, it in enumerate(items):
        row = {"input_id": it.input_id, "source": it.source, "shard_id": 0, "seq": seq, "kind": it.kind}
        pages = [p for p in chain.run_rows([row]) if not is_error(p)]
        keep = sorted(set(np.linspace(0, len(pages) - 1, min(pages_per_doc, len(pages))).round().astype(int).tolist()))
        log.info("%s: %d pages, %d kept", it.input_id, len(pages), len(keep))
        yield from (pages[i] for i in keep)


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _clean_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return _decode(buf.getvalue())


def measure(pages: list[dict[str, Any]], samples_cfg: DocSamplesConfig, reader: LineReader, max_regions: int = 400,
            seed: int = 0) -> list[dict[str, Any]]:
    """CALIBRATION_SCHEMA rows for the corrupted regions of the samples `DocSamples` makes of `pages`."""
    op = DocSamples(samples_cfg)
    rows: list[dict[str, Any]] = []
    for pi in np.random.default_rng(seed).permutation(len(pages)):
        page = pages[pi]
        clean = _clean_jpeg(page_pixels(page), samples_cfg.jpeg_quality)
        clean_reads: dict[tuple[float, ...], float] = {}
        for sample in op.run_rows([page]):
            if is_error(sample) or not sample["noise_level"] or sample["noise_level"] == "none":
                continue
            members = {m["ext"]: m["data"] for m in sample["members"]}
            rec = SampleRecord.from_json(members["json"])
            image = _decode(members["jpg"])
            for r in rec.regions:
                box = tuple(r.bbox)
                boxes = line_boxes(box, page.get("regions") or [])
                fill = background(clean, box)
                if box not in clean_reads:
                    clean_reads[box] = cer(read_region(reader, clean, boxes, fill), r.text)
                read = read_region(reader, image, boxes, fill)
                rows.append({
                    "key": rec.key, "input_id": rec.input_id, "page": rec.page, "granularity": rec.meta.get("granularity"),
                    "level": r.level, "family": r.family, "strength": r.strength,
                    "glyph_px": r.glyph_px, "chars": len(r.text), "cer": cer(read, r.text),
                    "clean_cer": clean_reads[box], "read": read, "text": r.text,
                })
                if len(rows) >= max_regions:
                    return rows
        log.info("%d regions measured", len(rows))
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per level x family x granularity (and "all" granularities): n, median CER, readable share, clean median."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        for gran in (r["granularity"], "all"):
            groups.setdefault((r["level"], r["family"], gran), []).append(r)
    order = {"light": 0, "medium": 1, "masked": 2}
    out = []
    for (level, family, gran), rs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1], kv[0][2])):
        c = np.array([r["cer"] for r in rs])
        out.append({"level": level, "family": family, "granularity": gran, "n": len(rs),
                    "median_cer": float(np.median(c)), "readable": float((c <= READABLE).mean()),
                    "clean_median": float(np.median([r["clean_cer"] for r in rs]))})
    return out


def format_table(summary: list[dict[str, Any]]) -> str:
    """`summarise` output as a fixed-width text table."""
    head = f"{'level':<7} {'family':<9} {'gran':<6} {'n':>4} {'median':>7} {'clean':>6} {'readable':>8}"
    lines = [head, "-" * len(head)]
    for s in summary:
        lines.append(f"{s['level']:<7} {s['family']:<9} {s['granularity']:<6} {s['n']:>4} {s['median_cer']:>7.3f} "
                     f"{s['clean_median']:>6.3f} {s['readable']:>8.0%}")
    return "\n".join(lines)


def check_targets(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The issue's targets: light near clean and >= 90% readable; medium median CER in [0.3, 0.7] per
    family; masked CER >= 0.95 (every region). Returns (description, met) pairs."""
    out: list[tuple[str, bool]] = []
    light = [r for r in rows if r["level"] == "light"]
    if light:
        med, clean = np.median([r["cer"] for r in light]), np.median([r["clean_cer"] for r in light])
        out.append((f"light median CER {med:.3f} within 0.05 of clean {clean:.3f}", bool(med <= clean + 0.05)))
        share = np.mean([r["cer"] <= READABLE for r in light])
        out.append((f"light readable {share:.0%} >= 90%", bool(share >= 0.9)))
    for fam in sorted({r["family"] for r in rows if r["level"] == "medium"}):
        med = np.median([r["cer"] for r in rows if r["level"] == "medium" and r["family"] == fam])
        out.append((f"medium {fam} median CER {med:.3f} in [0.3, 0.7]", bool(0.3 <= med <= 0.7)))
    masked = [r["cer"] for r in rows if r["level"] == "masked"]
    if masked:
        out.append((f"masked min CER {min(masked):.3f} >= 0.95", bool(min(masked) >= 0.95)))
    return out


def write_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """The calibration rows as Parquet at `path`."""
    import pyarrow.parquet as pq

    path = Path(path)
    pq.write_table(pa.Table.from_pylist(rows, schema=CALIBRATION_SCHEMA), path)
    return path
