"""Corruption of a rendered page's regions and DocSamples alone (no Ray): records, tasks, determinism."""
from __future__ import annotations

import io

import numpy as np
import pytest
from doc_pages import decode, two_column_page, two_column_pdf  # noqa: F401  (fixtures)
from PIL import Image

from operators.docs.corrupt import FAMILIES, NoiseConfig, background, corrupt_region, pixel_box
from operators.docs.language import PageLanguage
from operators.docs.samples import DocSamples, DocSamplesConfig
from schemas.record import TASK_KNOWLEDGE, TASK_OCR, TASK_TRANSCRIBE, TASK_VISUAL_CONTEXT, SampleRecord
from schemas.tables import FILTERED, SINK_SCHEMA

# --- corruption ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_image(two_column_page: dict) -> tuple[np.ndarray, list[float]]:
    line = next(r for r in two_column_page["regions"] if r["granularity"] == "line" and r["text"].startswith("Left"))
    return decode(two_column_page), line["bbox"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("strength", [0.2, 0.6])
def test_corruption_changes_only_inside_bbox(text_image: tuple[np.ndarray, list[float]], family: str, strength: float) -> None:
    image, bbox = text_image
    out, _ = FAMILIES[family](image, bbox, strength, np.random.default_rng(0), 20.0)
    assert out.shape == image.shape and out.dtype == np.uint8
    x0, y0, x1, y1 = pixel_box(bbox, image.shape[1], image.shape[0])
    inside = np.zeros(image.shape[:2], dtype=bool)
    inside[y0:y1, x0:x1] = True
    changed = (out != image).any(axis=2)
    assert changed[inside].any(), family
    assert not changed[~inside].any(), family


def test_mask_leaves_no_glyph_pixels(text_image: tuple[np.ndarray, list[float]]) -> None:
    image, bbox = text_image
    x0, y0, x1, y1 = pixel_box(bbox, image.shape[1], image.shape[0])
    assert image[y0:y1, x0:x1].min() < 100  # there was dark text
    out, _ = FAMILIES["mask"](image, bbox, 1.0, np.random.default_rng(0), 20.0)
    patch = out[y0:y1, x0:x1]
    assert (patch == background(image, bbox)).all() and patch.min() > 200


def test_corrupt_region_draws_family_and_strength_from_level(text_image: tuple[np.ndarray, list[float]]) -> None:
    image, bbox = text_image
    cfg = NoiseConfig()
    for level in ("light", "medium", "masked"):
        _, family, strength, _ = corrupt_region(image, bbox, level, np.random.default_rng(1), cfg, 20.0)
        lo, hi = cfg.strength[level][family]
        assert family in cfg.families[level] and lo <= strength <= hi


# --- samples ---------------------------------------------------------------------------------------

def test_doc_samples_records_and_determinism(two_column_page: dict) -> None:
    cfg = DocSamplesConfig(seed=7, corrupt_samples=6, transcribe_fraction=1.0)
    a_page = list(PageLanguage().run_rows([two_column_page]))
    a = DocSamples(cfg)(a_page)
    assert a.schema == SINK_SCHEMA and a.num_rows == 7
    b = DocSamples(DocSamplesConfig(seed=7, corrupt_samples=6, transcribe_fraction=1.0))(a_page)
    assert a.to_pylist() == b.to_pylist()
    c = DocSamples(DocSamplesConfig(seed=8, corrupt_samples=6, transcribe_fraction=1.0))([two_column_page])
    assert a.column("key").to_pylist() == c.column("key").to_pylist()
    assert a.column("members").to_pylist() != c.column("members").to_pylist()

    tasks = {TASK_OCR: "light", TASK_VISUAL_CONTEXT: "medium", TASK_KNOWLEDGE: "masked", TASK_TRANSCRIBE: "none"}
    for row in a.to_pylist():
        exts = [m["ext"] for m in row["members"]]
        assert exts == ["jpg", "json"]
        img = Image.open(io.BytesIO(row["members"][0]["data"]))
        assert img.format == "JPEG" and img.size == (row["width"], row["height"])
        rec = SampleRecord.from_json(row["members"][1]["data"])
        assert rec.key == row["key"] and rec.task == row["task"] and tasks[rec.task] == rec.noise_level == row["noise_level"]
        user, assistant = rec.conversations
        assert user.role == "user" and user.content.startswith("<image>\n") and assistant.role == "assistant"
        assert row["text_len"] == len(assistant.content) and row["language"] == "en"
        if rec.task == TASK_TRANSCRIBE:
            assert assistant.content.startswith("A Two Column") and rec.regions == []
            continue
        assert row["n_regions"] == len(rec.regions) >= 1 and user.content.count("<box>") == len(rec.regions)
        assert all(r.text in assistant.content for r in rec.regions)
        if len(rec.regions) == 1:
            assert assistant.content == rec.regions[0].text


def test_doc_samples_reject_page_without_regions(two_column_page: dict) -> None:
    out = DocSamples()([{**two_column_page, "regions": []}]).to_pylist()
    assert [(r["error_category"], r["error_type"]) for r in out] == [(FILTERED, "no_regions")]
