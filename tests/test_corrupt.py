"""Glyph-aware corruption and CER: fast checks (the OCR measurement itself is benchmarks/noise_calibration.py;
the fit of the calibration config is test_noise_fit.py)."""
from __future__ import annotations

import random

import numpy as np
import pymupdf
import pytest

from operators.docs.corrupt import FAMILIES, NoiseConfig, corrupt_region, glyph_px, pixel_box
from operators.docs.legibility import cer, edit_distance, line_boxes, normalise, region_crop
from operators.docs.page_image import page_pixels
from operators.docs.pdf_pages import PdfPages
from operators.docs.samples import DocSamples, DocSamplesConfig
from schemas.record import CorruptedRegion, SampleRecord

TEXT = "Glyph size sets the scale of every noise family"


@pytest.fixture(scope="module")
def sizes_page(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One page: the same sentence at 8 pt and at 24 pt, and a 3-line block at 10 pt."""
    path = tmp_path_factory.mktemp("sizes") / "sizes.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((40, 60), TEXT, fontsize=8, fontname="helv")
    page.insert_text((40, 140), TEXT, fontsize=24, fontname="helv")
    page.insert_textbox(pymupdf.Rect(40, 300, 400, 420), "\n".join([TEXT] * 3), fontsize=10, fontname="helv")
    doc.save(path, no_new_id=True)
    row = {"input_id": "sizes", "source": str(path), "shard_id": 0, "seq": 0, "kind": "pdf"}
    return PdfPages()([row]).to_pylist()[0]


def _line(page: dict, size: float) -> dict:
    return next(r for r in page["regions"] if r["granularity"] == "line" and round(r["font_size"]) == size)


def _normalised_crop(image: np.ndarray, bbox: list[float], glyph: float, em: int = 16) -> np.ndarray:
    """The region's crop rescaled so that its em spans `em` pixels (to compare text of two sizes)."""
    from PIL import Image

    x0, y0, x1, y1 = pixel_box(bbox, image.shape[1], image.shape[0])
    crop = Image.fromarray(image[y0:y1, x0:x1])
    f = em / glyph
    return np.asarray(crop.resize((round(crop.width * f), round(crop.height * f)), Image.Resampling.BOX), dtype=np.float32)


def test_glyph_px_from_font_size_and_dpi_block_uses_its_lines(sizes_page: dict) -> None:
    dpi = sizes_page["dpi"]
    small, big = _line(sizes_page, 8), _line(sizes_page, 24)
    assert glyph_px(small, dpi) == pytest.approx(8 * dpi / 72) and glyph_px(big, dpi) == pytest.approx(24 * dpi / 72)
    block = next(r for r in sizes_page["regions"] if r["granularity"] == "block" and r["text"].count("\n") == 2)
    assert block["bbox"][3] - block["bbox"][1] > 3 * glyph_px(block, dpi)  # the box spans 3 lines...
    assert glyph_px(block, dpi) == pytest.approx(10 * dpi / 72)  # ...its glyph size is its lines'
    assert glyph_px({"font_size": 12.0, "bbox": [0, 0, 10, 99]}, None) == 12.0  # OCR without dpi: pixels
    assert glyph_px({"font_size": None, "bbox": [0, 0, 10, 24]}, 144) == pytest.approx(20.0)


@pytest.mark.parametrize("family", ["gaussian", "blur", "dropout", "jpeg"])
def test_one_strength_same_legibility_at_8_and_24_pt(sizes_page: dict, family: str) -> None:
    """At one strength, the damage relative to the glyphs is the same on small and large text: after
    rescaling both crops to one em size, their difference from the clean crop agrees within 25%."""
    image, dpi = page_pixels(sizes_page), sizes_page["dpi"]
    damage = []
    for size in (8, 24):
        r = _line(sizes_page, size)
        g = glyph_px(r, dpi)
        out, params = FAMILIES[family](image, r["bbox"], 0.5, np.random.default_rng(0), g)
        clean, noisy = _normalised_crop(image, r["bbox"], g), _normalised_crop(out, r["bbox"], g)
        damage.append(float(np.abs(noisy - clean).mean()))
    assert min(damage) > 2.0, (family, damage)  # strength 0.5 does damage
    assert max(damage) / min(damage) < 1.25, (family, damage)


def test_parameters_scale_with_glyph_size(sizes_page: dict) -> None:
    image = page_pixels(sizes_page)
    r = _line(sizes_page, 8)
    rng = np.random.default_rng(0)
    _, small = FAMILIES["blur"](image, r["bbox"], 0.5, rng, 16.0)
    _, big = FAMILIES["blur"](image, r["bbox"], 0.5, rng, 48.0)
    assert big["radius"] == pytest.approx(3 * small["radius"])
    _, small = FAMILIES["dropout"](image, r["bbox"], 0.5, rng, 16.0)
    _, big = FAMILIES["dropout"](image, r["bbox"], 0.5, rng, 48.0)
    assert big["cell"] == pytest.approx(3 * small["cell"], abs=0.01)
    _, small = FAMILIES["jpeg"](image, r["bbox"], 0.5, rng, 16.0)
    _, big = FAMILIES["jpeg"](image, r["bbox"], 0.5, rng, 48.0)
    assert big["scale"] * 48 == pytest.approx(small["scale"] * 16, rel=0.01)  # the em ends at the same px


@pytest.mark.parametrize("family", ["blur", "jpeg"])
def test_each_em_cell_is_the_family_at_one_of_the_patch_factors(sizes_page: dict, family: str) -> None:
    """Patchwork's contract on the families that draw nothing at random: every 1-em cell of the region is
    exactly the family's output at strength x one of PATCH_FACTORS, several factors appear on one line,
    and params are those at the strength itself."""
    from operators.docs.corrupt import PATCH_EM, PATCH_FACTORS, blur, jpeg_artifacts

    base = {"blur": blur, "jpeg": jpeg_artifacts}[family]
    image, r = page_pixels(sizes_page), _line(sizes_page, 24)
    g, s = glyph_px(r, sizes_page["dpi"]), 0.5
    x0, y0, x1, y1 = pixel_box(r["bbox"], image.shape[1], image.shape[0])
    out, params = FAMILIES[family](image, r["bbox"], s, np.random.default_rng(3), g)
    versions = [base(image, r["bbox"], min(1.0, s * f), np.random.default_rng(0), g)[0][y0:y1, x0:x1]
                for f in PATCH_FACTORS]
    assert params == {**base(image, r["bbox"], s, np.random.default_rng(0), g)[1], "patch_px": round(PATCH_EM * g, 2)}
    rows, cols = (np.arange(y1 - y0) / (PATCH_EM * g)).astype(int), (np.arange(x1 - x0) / (PATCH_EM * g)).astype(int)
    used = set()
    for i in np.unique(rows):
        for j in np.unique(cols):
            cell = np.ix_(rows == i, cols == j)
            match = [k for k, v in enumerate(versions) if np.array_equal(out[y0:y1, x0:x1][cell], v[cell])]
            assert match, (family, i, j)
            used.add(match[0])
    assert len(used) >= 3, used


@pytest.mark.parametrize("family", ["gaussian", "dropout"])
def test_random_families_damage_some_ems_more_than_others(sizes_page: dict, family: str) -> None:
    """Noise and dropout in patches: at one strength, the most damaged ems of a line take several times
    the damage of the least (the same family applied uniformly spreads it evenly)."""
    from operators.docs.corrupt import PATCH_EM, gaussian_noise, glyph_dropout

    base = {"gaussian": gaussian_noise, "dropout": glyph_dropout}[family]
    image, r = page_pixels(sizes_page), _line(sizes_page, 24)
    g, s = glyph_px(r, sizes_page["dpi"]), 0.3
    x0, y0, x1, y1 = pixel_box(r["bbox"], image.shape[1], image.shape[0])

    def spread(out: np.ndarray) -> float:
        diff = np.abs(out[y0:y1, x0:x1].astype(np.float32) - image[y0:y1, x0:x1].astype(np.float32))
        cell = int(PATCH_EM * g)
        per_em = np.array([diff[:, c:c + cell].mean() for c in range(0, diff.shape[1] - cell + 1, cell)])
        return float(np.percentile(per_em, 90) / max(np.percentile(per_em, 10), 1e-6))

    patched = spread(FAMILIES[family](image, r["bbox"], s, np.random.default_rng(3), g)[0])
    uniform = spread(base(image, r["bbox"], s, np.random.default_rng(3), g)[0])
    assert patched > 1.5 * uniform, (family, patched, uniform)


def test_gaussian_sigma_follows_contrast(sizes_page: dict) -> None:
    image = page_pixels(sizes_page).copy()
    r = _line(sizes_page, 24)
    x0, y0, x1, y1 = pixel_box(r["bbox"], image.shape[1], image.shape[0])
    faint = image.copy()
    faint[y0:y1, x0:x1] = 255 - (255 - image[y0:y1, x0:x1]) // 4  # same text, a quarter of the contrast
    _, strong = FAMILIES["gaussian"](image, r["bbox"], 0.5, np.random.default_rng(0), 48.0)
    _, weak = FAMILIES["gaussian"](faint, r["bbox"], 0.5, np.random.default_rng(0), 48.0)
    assert weak["sigma"] == pytest.approx(strong["sigma"] / 4, rel=0.1)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_changes_stay_inside_the_box(sizes_page: dict, family: str) -> None:
    image = page_pixels(sizes_page)
    for r in (_line(sizes_page, 8), _line(sizes_page, 24)):
        out, _ = FAMILIES[family](image, r["bbox"], 0.8, np.random.default_rng(1), glyph_px(r, sizes_page["dpi"]))
        x0, y0, x1, y1 = pixel_box(r["bbox"], image.shape[1], image.shape[0])
        inside = np.zeros(image.shape[:2], dtype=bool)
        inside[y0:y1, x0:x1] = True
        changed = out != image
        assert changed[inside].any() and not changed[~inside].any(), family


def test_corrupt_region_uses_the_level_family_range() -> None:
    image = np.full((40, 200), 255, dtype=np.uint8)
    image[15:25, 20:180] = 0
    cfg = NoiseConfig()
    for level in ("light", "medium", "masked"):
        for seed in range(6):
            _, family, strength, params = corrupt_region(image, [10, 10, 190, 30], level, np.random.default_rng(seed), cfg, 12.0)
            lo, hi = cfg.strength[level][family]
            assert family in cfg.families[level] and lo <= strength <= hi
    with pytest.raises(ValueError, match="strength.light.blur"):
        NoiseConfig(strength={"light": (0.1, 0.3)}).range_of("light", "blur")


def test_samples_record_glyph_size_and_params_deterministically(sizes_page: dict) -> None:
    cfg = DocSamplesConfig(seed=3, corrupt_samples=8, transcribe_fraction=0.0)
    a, b = DocSamples(cfg)([sizes_page]).to_pylist(), DocSamples(cfg)([sizes_page]).to_pylist()
    assert a == b
    font = {tuple(round(v, 2) for v in r["bbox"]): r["font_size"] for r in sizes_page["regions"]}
    seen = 0
    for row in a:
        for reg in SampleRecord.from_json(row["members"][1]["data"]).regions:
            assert reg.glyph_px == pytest.approx(font[tuple(reg.bbox)] * sizes_page["dpi"] / 72, abs=0.01)
            assert isinstance(reg.params, dict)
            seen += 1
    assert seen >= 8


def test_old_records_without_glyph_fields_still_load() -> None:
    old = ('{"key":"k","task":"ocr","conversations":[],"source":"s","input_id":"i","regions":'
           '[{"bbox":[0,0,1,1],"text":"t","level":"light","family":"blur","strength":0.2}]}')
    assert SampleRecord.from_json(old).regions == [CorruptedRegion([0, 0, 1, 1], "t", "light", "blur", 0.2)]


# --- CER -------------------------------------------------------------------------------------------

def _reference_distance(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[:], i
        for j, cb in enumerate(b, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (ca != cb))
    return d[-1]


def test_edit_distance_matches_the_textbook_recurrence() -> None:
    r = random.Random(0)
    for _ in range(200):
        a = "".join(r.choice("abc") for _ in range(r.randint(0, 12)))
        b = "".join(r.choice("abc") for _ in range(r.randint(0, 12)))
        assert edit_distance(a, b) == _reference_distance(a, b), (a, b)
    assert edit_distance("kitten", "sitting") == 3


def test_cer_normalises_and_clips() -> None:
    assert normalise(" The ﬁne\nLine ") == "thefineline"
    assert cer("Thefine line", "The ﬁne line") == 0.0  # spaces and case do not count; NFKC ligatures
    assert cer("hxllo", "hello") == pytest.approx(0.2)
    assert cer("", "hello") == 1.0 and cer("a much longer garbage read", "hi") == 1.0
    assert cer("", "  ") == 0.0


def test_line_boxes_and_crop(sizes_page: dict) -> None:
    block = next(r for r in sizes_page["regions"] if r["granularity"] == "block" and r["text"].count("\n") == 2)
    boxes = line_boxes(block["bbox"], sizes_page["regions"])
    assert len(boxes) == 3 and [b[1] for b in boxes] == sorted(b[1] for b in boxes)
    crop = region_crop(page_pixels(sizes_page), boxes[0])
    x0, y0, x1, y1 = pixel_box(boxes[0], 10**6, 10**6)
    assert crop.shape == (y1 - y0 + 4, x1 - x0 + 4, 3)
