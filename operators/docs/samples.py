"""DocSamples: one page with regions -> training samples (corrupted regions + a clean transcription).

Contract:
- input: PAGE_SCHEMA rows (after OCR and RegionFilter); output: SINK_SCHEMA rows.
- per page, `corrupt_samples` samples of variant ("corrupt", k): the sample's RNG is
  `numpy.random.default_rng([seed, int(key, 16)])` with `key = sample_key(input_id, page_index,
  "corrupt", k)`, so a sample depends only on (seed, its identity). It draws a granularity
  (`granularity_weights`), a number of regions in `regions_per_sample`, that many non-overlapping
  regions of that granularity, and for each a noise level (`noise.level_weights`), a family and a
  strength (`operators.docs.corrupt`); the regions are corrupted in place, one after the other. The task
  follows the highest level: light -> TASK_OCR, medium -> TASK_VISUAL_CONTEXT, masked ->
  TASK_KNOWLEDGE. The prompt names the regions by box in reading order; the target is their original
  texts in that order (`operators.docs.prompts`).
- plus, for a `transcribe_fraction` of pages (drawn from the transcription key's RNG), one clean
  sample of variant "transcribe": TASK_TRANSCRIBE, target = all block texts in reading order: the
  page's visible text, text layer and OCR of its scanned parts merged (`operators.docs.mixed_pages`).
- meta records where the page's text came from (`text_path`: text_layer | ocr | mixed; also a stats
  column) and the text-layer spans and lines left out by reason (`rejected_regions`, e.g. {"invisible": 40}).
- defaults follow the paper's formulation (one sample per page image, several regions, each at its
  own random level) and keep the JPEG encodes per page, the dominant cost, near one.
- members: `jpg` (the page, JPEG at `jpeg_quality`, deterministic) and `json` (`SampleRecord`); stats:
  noise_level = the highest level, noise_family = the families joined by "+", noise_strength = the
  highest strength; language and language_confidence are the page's (`operators.docs.language`, null
  without that operator), region_languages the distinct languages of the sample's regions that have one.
- a page with no region to sample is rejected (category filtered, error_type "no_regions").
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from corpus.config_types import FRACTION, JPEG_QUALITY, bounded
from operators.base import Operator, Reject, Row
from operators.docs.corrupt import NoiseConfig, corrupt_region, glyph_px
from operators.docs.page_image import page_pixels
from operators.docs.prompts import box_tag, region_prompt, region_target, transcribe_prompt, transcribe_target
from schemas.noise import LIGHT, MASKED, MEDIUM, NOISE_LEVELS, NONE
from schemas.record import (
    TASK_KNOWLEDGE,
    TASK_OCR,
    TASK_TRANSCRIBE,
    TASK_VISUAL_CONTEXT,
    CorruptedRegion,
    SampleRecord,
    Turn,
    sample_key,
)
from schemas.tables import FILTERED, SINK_SCHEMA

TASK_OF_LEVEL = {LIGHT: TASK_OCR, MEDIUM: TASK_VISUAL_CONTEXT, MASKED: TASK_KNOWLEDGE}

@dataclass
class DocSamplesConfig:
    """How many samples per page, which regions, which noise; every knob is recorded in the sample."""

    seed: int = 0
    corrupt_samples: int = 1
    regions_per_sample: tuple[int, int] = (1, 3)
    granularity_weights: dict[str, float] = field(default_factory=lambda: {"line": 0.7, "block": 0.3})
    min_region_chars: int = 3
    max_region_chars: int = 800
    transcribe_fraction: float = bounded(0.25, FRACTION)  # share of pages that also give a clean transcription sample
    jpeg_quality: int = bounded(90, JPEG_QUALITY)
    noise: NoiseConfig = field(default_factory=NoiseConfig)


def _overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _jpeg(image: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class DocSamples(Operator):
    """Corrupt regions of each page and emit samples; see the module docstring."""

    stage = "doc_samples"
    reads = ("input_id", "source", "image", "width", "height", "channels", "page_index", "regions")
    reads_if_present = ("dpi", "text_path", "rejected_regions", "language", "language_confidence")
    writes = ("key", "members", "task", "noise_level", "noise_family", "noise_strength", "n_regions", "width", "height",
              "text_len", "language", "language_confidence", "region_languages", "page_index", "text_path")
    output_schema = SINK_SCHEMA

    def __init__(self, config: DocSamplesConfig | None = None) -> None:
        super().__init__()
        self.config = config or DocSamplesConfig()

    def rng(self, key: str) -> np.random.Generator:
        """The RNG of one sample: a function of (seed, key) only."""
        return np.random.default_rng([self.config.seed, int(key, 16)])

    def process(self, row: Row) -> Iterator[Row]:
        image = page_pixels(row)
        regions = sorted(row.get("regions") or [], key=lambda r: (r["granularity"], r["order"]))
        out = [s for k in range(self.config.corrupt_samples) if (s := self._corrupt_sample(row, image, regions, k))]
        if (s := self._transcribe_sample(row, image, regions)):
            out.append(s)
        if not out:
            raise Reject(f"page {row.get('page_index')}: no region to sample", FILTERED, error_type="no_regions")
        yield from out

    def _candidates(self, regions: list[dict[str, Any]], granularity: str) -> list[dict[str, Any]]:
        lo, hi = self.config.min_region_chars, self.config.max_region_chars
        return [r for r in regions if r["granularity"] == granularity and lo <= len(r["text"].strip()) <= hi]

    def _corrupt_sample(self, row: Row, image: np.ndarray, regions: list[dict[str, Any]], k: int) -> Row | None:
        cfg = self.config
        key = sample_key(row["input_id"], row["page_index"], "corrupt", k)
        rng = self.rng(key)
        grans = [g for g in sorted(cfg.granularity_weights) if self._candidates(regions, g)]
        if not grans:
            return None
        p = np.array([cfg.granularity_weights[g] for g in grans], dtype=np.float64)
        granularity = grans[int(rng.choice(len(grans), p=p / p.sum()))]
        candidates = self._candidates(regions, granularity)
        want = int(rng.integers(cfg.regions_per_sample[0], cfg.regions_per_sample[1] + 1))
        chosen: list[dict[str, Any]] = []
        for i in rng.permutation(len(candidates)):
            if len(chosen) == want:
                break
            if not any(_overlaps(candidates[i]["bbox"], c["bbox"]) for c in chosen):
                chosen.append(candidates[i])
        chosen.sort(key=lambda r: r["order"])

        h, w = image.shape[:2]
        corrupted = image
        done: list[CorruptedRegion] = []
        for r in chosen:
            level = cfg.noise.draw_level(rng)
            glyph = glyph_px(r, row.get("dpi"))
            corrupted, family, strength, params = corrupt_region(corrupted, r["bbox"], level, rng, cfg.noise, glyph)
            done.append(CorruptedRegion([round(float(v), 2) for v in r["bbox"]], r["text"], level, family, strength,
                                        round(glyph, 2), params))
        level = max((c.level for c in done), key=NOISE_LEVELS.index)
        task = TASK_OF_LEVEL[level]
        boxes = [box_tag(c.bbox, w, h) for c in done]
        template, prompt = region_prompt(task, boxes, rng)
        target = region_target(boxes, [c.text for c in done])
        meta = {"variant": "corrupt", "k": k, "granularity": granularity, "prompt_template": template}
        return self._sample(row, key, task, corrupted, prompt, target, done, meta, chosen)

    def _transcribe_sample(self, row: Row, image: np.ndarray, regions: list[dict[str, Any]]) -> Row | None:
        unit = "block" if any(r["granularity"] == "block" for r in regions) else "line"
        used = [r for r in regions if r["granularity"] == unit and r["text"].strip()]
        texts = [r["text"] for r in used]
        if not texts:
            return None
        key = sample_key(row["input_id"], row["page_index"], "transcribe")
        rng = self.rng(key)
        if rng.random() >= self.config.transcribe_fraction:
            return None
        template, prompt = transcribe_prompt(rng)
        meta = {"variant": "transcribe", "granularity": unit, "prompt_template": template}
        return self._sample(row, key, TASK_TRANSCRIBE, image, prompt, transcribe_target(texts), [], meta, used)

    def _sample(self, row: Row, key: str, task: str, image: np.ndarray, prompt: str, target: str,
                regions: list[CorruptedRegion], meta: dict[str, Any], sources: list[dict[str, Any]]) -> Row:
        """The sink row of one sample; `sources`: the page regions it is made of."""
        h, w = image.shape[:2]
        level = max((c.level for c in regions), key=NOISE_LEVELS.index, default=NONE)
        meta.update(seed=self.config.seed, dpi=row.get("dpi"), jpeg_quality=self.config.jpeg_quality,
                    origin=sorted({r.get("origin") for r in row.get("regions") or []} - {None}),
                    text_path=row.get("text_path"), rejected_regions=dict(row.get("rejected_regions") or {}))
        record = SampleRecord(
            key=key, task=task,
            conversations=[Turn("user", "<image>\n" + prompt), Turn("assistant", target)],
            source=row["source"], input_id=row["input_id"], page=row.get("page_index"), width=w, height=h,
            regions=regions, noise_level=level, meta=meta,
        )
        return {
            "key": key,
            "members": [{"ext": "jpg", "data": _jpeg(image, self.config.jpeg_quality)},
                        {"ext": "json", "data": record.to_json()}],
            "task": task,
            "noise_level": level,
            "noise_family": "+".join(dict.fromkeys(c.family for c in regions)) or None,
            "noise_strength": max((c.strength for c in regions), default=0.0),
            "n_regions": len(sources),
            "width": w,
            "height": h,
            "text_len": len(target),
            "language": row.get("language"),
            "language_confidence": row.get("language_confidence"),
            "region_languages": sorted({r["language"] for r in sources if r.get("language")}),
            "page_index": row.get("page_index"),
            "text_path": row.get("text_path"),
        }
