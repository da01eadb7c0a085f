"""Noise calibration, measured: how legible each corrupted region of a docs build is to an OCR engine.

Contract:
- `corpus_pages(inputs, cfg, pages_per_doc)`: the page rows a docs build would sample from (split,
  render, OCR, region filter: the build's own operators, no Ray), at most `pages_per_doc` evenly spaced
  pages per document; error rows are dropped. `document_pages(items, ...)` does the same for
  `InputItem`s already expanded.
- `measure(pages, samples_cfg, readers, max_regions, seed)`: runs `DocSamples` (the build's code path,
  so the same seed gives the build's very samples) on the pages in a seeded order and, for each
  corrupted region, reads the region's crop from the sample JPEG and the same box of the clean page
  (JPEG-encoded at the same quality) line by line with each of `readers`; one `CALIBRATION_SCHEMA` row
  per region and reader, up to `max_regions` regions. CER as defined in `operators.docs.legibility`.
- `summarise(rows)`: per reader x level x family x granularity (and "all" granularities): n, median CER,
  readable share (CER <= READABLE), the clean crops' median.
- `check_targets(rows)`: the bands a level holds only where every reader agrees
  (`schemas.noise.LEGIBILITY_BANDS`: light median <= 0.10, medium in [0.30, 0.80], masked >= 0.95), per
  reader x level x family x granularity; one (description, met) pair each.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from corpus.inputs import InputItem, expand_inputs
from operators.base import Chain, is_error
from operators.docs.corrupt import background
from operators.docs.file_kind import DOC_KINDS
from operators.docs.filters import RegionFilter
from operators.docs.legibility import LineReader, cer, line_boxes, read_region
from operators.docs.ocr import OcrRegions
from operators.docs.page_image import page_pixels
from operators.docs.pdf_pages import PdfPages
from operators.docs.samples import DocSamples, DocSamplesConfig
from operators.docs.split import SplitDocuments
from schemas.noise import LEGIBILITY_BANDS as BANDS
from schemas.noise import NOISE_LEVELS
from schemas.record import SampleRecord
from schemas.tables import CALIBRATION_SCHEMA

log = logging.getLogger(__name__)

READABLE = 0.2  # a region counts as readable when its CER is at most this
MIN_GROUP = 5  # a level x family x granularity with fewer regions is printed, not judged (its median is noise)


def corpus_pages(inputs: list[str], cfg: Any, pages_per_doc: int = 6) -> Iterator[dict[str, Any]]:
    """Page rows (after the region filter) of the documents `inputs` name; `cfg` is a `DocsConfig`."""
    return document_pages(expand_inputs(inputs, DOC_KINDS), cfg, pages_per_doc)


def document_pages(items: Sequence[InputItem], cfg: Any, pages_per_doc: int = 6) -> Iterator[dict[str, Any]]:
    """Page rows (after the region filter) of the documents `items`; `cfg` is a `DocsConfig`."""
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


def measure(pages: list[dict[str, Any]], samples_cfg: DocSamplesConfig, readers: Sequence[LineReader],
            max_regions: int = 400, seed: int = 0) -> list[dict[str, Any]]:
    """CALIBRATION_SCHEMA rows (one per region and reader) for the corrupted regions of the samples
    `DocSamples` makes of `pages`."""
    op = DocSamples(samples_cfg)
    rows: list[dict[str, Any]] = []
    n_regions = 0
    for pi in np.random.default_rng(seed).permutation(len(pages)):
        page = pages[pi]
        clean = _clean_jpeg(page_pixels(page), samples_cfg.jpeg_quality)
        clean_reads: dict[tuple[str, tuple[float, ...]], float] = {}
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
                for reader in readers:
                    if (reader.name, box) not in clean_reads:
                        clean_reads[reader.name, box] = cer(read_region(reader, clean, boxes, fill), r.text)
                    read = read_region(reader, image, boxes, fill)
                    rows.append({
                        "key": rec.key, "input_id": rec.input_id, "page": rec.page,
                        "granularity": rec.meta.get("granularity"), "level": r.level, "family": r.family,
                        "strength": r.strength, "glyph_px": r.glyph_px, "chars": len(r.text), "reader": reader.name,
                        "cer": cer(read, r.text), "clean_cer": clean_reads[reader.name, box], "read": read,
                        "text": r.text,
                    })
                n_regions += 1
                if n_regions >= max_regions:
                    return rows
        log.info("%d regions measured", n_regions)
    return rows


def readers_of(rows: list[dict[str, Any]]) -> list[str]:
    """The readers in `rows`, the project's (rapidocr) first; tables written before there were two
    readers have no `reader` column and count as rapidocr."""
    names = {r.get("reader") or "rapidocr" for r in rows}
    return sorted(names, key=lambda n: (n != "rapidocr", n))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per reader x level x family x granularity (and "all" granularities): n, median CER, readable
    share, clean median."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        for gran in (r["granularity"], "all"):
            groups.setdefault((r.get("reader") or "rapidocr", r["level"], r["family"], gran), []).append(r)
    order = {lv: i for i, lv in enumerate(NOISE_LEVELS)}
    rank = {name: i for i, name in enumerate(readers_of(rows))}
    out = []
    for (reader, level, family, gran), rs in sorted(groups.items(), key=lambda kv: (
            order.get(kv[0][1], 9), kv[0][2], kv[0][3] == "all", kv[0][3], rank[kv[0][0]])):
        c = np.array([r["cer"] for r in rs])
        out.append({"reader": reader, "level": level, "family": family, "granularity": gran, "n": len(rs),
                    "median_cer": float(np.median(c)), "readable": float((c <= READABLE).mean()),
                    "clean_median": float(np.median([r["clean_cer"] for r in rs]))})
    return out


def format_table(summary: list[dict[str, Any]]) -> str:
    """`summarise` output as a fixed-width text table: one line per level x family x granularity, each
    reader's median CER (and its clean median, readable share) side by side, and the level's band."""
    readers = sorted({s["reader"] for s in summary}, key=lambda n: (n != "rapidocr", n))
    cells: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for s in summary:
        cells.setdefault((s["level"], s["family"], s["granularity"]), {})[s["reader"]] = s
    head = f"{'level':<7} {'family':<9} {'gran':<6} {'n':>4} {'band':>11}" + "".join(
        f" | {name[:9]:>9} {'clean':>5} {'read':>4}" for name in readers)
    lines = [head, "-" * len(head)]
    for (level, family, gran), by_reader in cells.items():
        lo, hi = BANDS.get(level, (0.0, 1.0))
        n = max(s["n"] for s in by_reader.values())
        line = f"{level:<7} {family:<9} {gran:<6} {n:>4} {f'{lo:.2f}-{hi:.2f}':>11}"
        for name in readers:
            s = by_reader.get(name)
            line += (f" | {s['median_cer']:>9.3f} {s['clean_median']:>5.2f} {s['readable']:>4.0%}" if s
                     else f" | {'-':>9} {'':>5} {'':>4}")
        lines.append(line)
    return "\n".join(lines)


def check_targets(rows: list[dict[str, Any]], min_regions: int = MIN_GROUP) -> list[tuple[str, bool]]:
    """Each level's band (BANDS) per reader x level x family x granularity with at least `min_regions`
    regions, and per reader x level over every region; (description, met) pairs."""
    out: list[tuple[str, bool]] = []
    for s in summarise(rows):
        lo, hi = BANDS.get(s["level"], (0.0, 1.0))
        if s["n"] < min_regions and s["granularity"] != "all":
            continue
        out.append((f"{s['reader']}: {s['level']} {s['family']} {s['granularity']} median CER {s['median_cer']:.3f} "
                    f"in [{lo:.2f}, {hi:.2f}] (n={s['n']})", bool(lo <= s["median_cer"] <= hi)))
    return out


def write_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """The calibration rows as Parquet at `path`."""
    import pyarrow.parquet as pq

    path = Path(path)
    pq.write_table(pa.Table.from_pylist(rows, schema=CALIBRATION_SCHEMA), path)
    return path
