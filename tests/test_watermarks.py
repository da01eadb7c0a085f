"""Semi-transparent watermarks: the body text under them stays a target while it is legible, the watermark's
own text does not become one, and an opaque cover still hides the text under it. Real PyMuPDF PDFs (a
watermark as translucent text, a translucent shape, an image with a soft mask, an image drawn with a fill
opacity or in a transparency group), checked through `PdfPages`."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pymupdf
import pytest

from operators.docs.pdf_pages import PdfPages

BODY = [f"Body line {k}: the quick brown fox jumps over the lazy dog" for k in range(12)]
COVER = pymupdf.Rect(40, 80, 460, 360)  # the watermark's area: over every body line


def body(page: pymupdf.Page) -> None:
    for k, text in enumerate(BODY):
        page.insert_text((50, 100 + 22 * k), text, fontsize=11)


def noisy(width: int, height: int, alpha: np.ndarray | None = None) -> pymupdf.Pixmap:
    """An image of random colours (its own ink contrast is high everywhere), with an alpha channel if given."""
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    if alpha is None:
        return pymupdf.Pixmap(pymupdf.csRGB, width, height, rgb.tobytes(), False)
    return pymupdf.Pixmap(pymupdf.csRGB, width, height, np.dstack([rgb, alpha]).tobytes(), True)


def draw_with_opacity(page: pymupdf.Page, opacity: float) -> None:
    """Wrap the page's first XObject drawing (`/Name Do`) in a graphics state of fill opacity `opacity`."""
    doc = page.parent
    page.clean_contents()
    xref = page.get_contents()[0]
    stream = doc.xref_stream(xref).decode()
    doc.update_stream(xref, re.sub(r"/\w+ Do", lambda m: f"/GSwm gs {m.group(0)}", stream, count=1).encode())
    doc.xref_set_key(page.xref, "Resources/ExtGState/GSwm", f"<</ca {opacity}/CA {opacity}>>")


def image_with_fill_opacity(page: pymupdf.Page) -> None:
    page.insert_image(COVER, pixmap=noisy(60, 40), keep_proportion=False)
    draw_with_opacity(page, 0.25)


def image_in_transparency_group(page: pymupdf.Page) -> None:
    """An opaque image inside a form XObject that is a transparency group, drawn at opacity 0.25."""
    src = pymupdf.open()
    sp = src.new_page(width=COVER.width, height=COVER.height)
    sp.insert_image(sp.rect, pixmap=noisy(60, 40), keep_proportion=False)
    page.show_pdf_page(COVER, src, 0)
    doc = page.parent
    for xref in range(1, doc.xref_length()):
        if doc.xref_get_key(xref, "Subtype")[1] == "/Form":
            doc.xref_set_key(xref, "Group", "<</S/Transparency/CS/DeviceRGB>>")
    draw_with_opacity(page, 0.25)


def diagonal_text(page: pymupdf.Page, opacity: float = 0.2) -> None:
    page.insert_text((60, 330), "CONFIDENTIAL", fontsize=60, color=(0.8, 0.1, 0.1), fill_opacity=opacity,
                     morph=(pymupdf.Point(60, 330), pymupdf.Matrix(30)))


WATERMARKS: dict[str, Callable[[pymupdf.Page], None]] = {
    "diagonal translucent text": diagonal_text,
    "translucent text under the body": diagonal_text,  # drawn first: see watermark_pdf
    "translucent textbox": lambda p: p.insert_textbox(pymupdf.Rect(40, 150, 480, 300), "CONFIDENTIAL", fontsize=50,
                                                      color=(0, 0, 0), fill_opacity=0.3),
    "translucent shape": lambda p: p.draw_rect(COVER, color=None, fill=(0.8, 0.1, 0.1), fill_opacity=0.2),
    "image with an alpha channel": lambda p: p.insert_image(
        COVER, stream=noisy(60, 40, np.full((40, 60), 50, np.uint8)).tobytes("png"), keep_proportion=False),
    "image drawn with a fill opacity": image_with_fill_opacity,
    "image in a transparency group": image_in_transparency_group,
}


def watermark_pdf(path: Path, watermark: Callable[[pymupdf.Page], None], under: bool = False) -> Path:
    doc = pymupdf.open()
    page = doc.new_page(width=500, height=420)
    if under:
        watermark(page)
        body(page)
    else:
        body(page)
        watermark(page)
    doc.save(path, no_new_id=True)
    return path


def page_of(path: Path) -> dict:
    (row,) = PdfPages().run_rows([{"input_id": path.stem, "source": str(path), "kind": "pdf", "shard_id": 0, "seq": 0}])
    return row


def line_texts(row: dict) -> list[str]:
    return [r["text"] for r in sorted(row["regions"], key=lambda r: r["order"]) if r["granularity"] == "line"]


@pytest.mark.parametrize("kind", list(WATERMARKS))
def test_body_text_under_a_translucent_watermark_stays_a_target(kind: str, tmp_path: Path) -> None:
    row = page_of(watermark_pdf(tmp_path / "wm.pdf", WATERMARKS[kind], under=kind.endswith("under the body")))
    assert line_texts(row) == BODY
    assert not {"covered", "low_contrast"} & row["rejected_regions"].keys()


@pytest.mark.parametrize("opacity", [0.2, 0.3])
def test_watermark_text_across_the_body_is_not_a_target(opacity: float, tmp_path: Path) -> None:
    """Translucent text laid across other lines is a watermark: its box shows the body, not a line of its own."""
    row = page_of(watermark_pdf(tmp_path / "wm.pdf", lambda p: diagonal_text(p, opacity)))
    assert line_texts(row) == BODY and row["rejected_regions"] == {"watermark": 1}


def test_translucent_text_clear_of_other_text_is_judged_by_its_contrast(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=500, height=200)
    page.insert_text((50, 40), "A grey caption at sixty percent", fontsize=12, fill_opacity=0.6)
    page.insert_text((50, 100), "A pale note at ten percent", fontsize=12, color=(0.5, 0.5, 0.5), fill_opacity=0.1)
    doc.save(tmp_path / "captions.pdf", no_new_id=True)
    row = page_of(tmp_path / "captions.pdf")
    assert line_texts(row) == ["A grey caption at sixty percent"] and row["rejected_regions"] == {"low_contrast": 1}


def test_an_opaque_image_still_hides_the_text_under_it(tmp_path: Path) -> None:
    def opaque(p: pymupdf.Page) -> None:
        p.insert_image(COVER, pixmap=noisy(60, 40), keep_proportion=False)

    def opaque_then_watermark(p: pymupdf.Page) -> None:  # text drawn later over the cover is not the body
        opaque(p)
        diagonal_text(p)

    assert page_of(watermark_pdf(tmp_path / "a.pdf", opaque))["rejected_regions"] == {"covered": 12}
    row = page_of(watermark_pdf(tmp_path / "b.pdf", opaque_then_watermark))
    assert line_texts(row) == [] and row["rejected_regions"] == {"covered": 12, "watermark": 1}


def test_a_soft_mask_hides_only_where_it_is_opaque(tmp_path: Path) -> None:
    """An image whose alpha is opaque over a band near its top (body lines 1 and 2) and clear elsewhere."""
    alpha = np.zeros((280, 60), np.uint8)
    alpha[26:66] = 255  # image rows map to page y 80 + row: the band spans y 106..146
    stamp = noisy(60, 280, alpha).tobytes("png")
    pdf = watermark_pdf(tmp_path / "band.pdf", lambda p: p.insert_image(COVER, stream=stamp, keep_proportion=False))
    row = page_of(pdf)
    assert line_texts(row) == [BODY[0]] + BODY[3:] and row["rejected_regions"] == {"covered": 2}


def test_a_stencil_mask_hides_only_where_it_paints(tmp_path: Path) -> None:
    """An opaque image with a 1-bit /Mask that paints its top half only (sample 0 paints, 1 masks out)."""
    def stencilled(page: pymupdf.Page) -> None:
        doc = page.parent
        xref = page.insert_image(COVER, pixmap=noisy(64, 40), keep_proportion=False)
        mask = doc.get_new_xref()
        doc.update_object(mask, "<</Type/XObject/Subtype/Image/Width 64/Height 40/ImageMask true/BitsPerComponent 1>>")
        doc.update_stream(mask, bytes(8 * 20) + b"\xff" * (8 * 20), compress=False)
        doc.xref_set_key(xref, "Mask", f"{mask} 0 R")

    row = page_of(watermark_pdf(tmp_path / "stencil.pdf", stencilled))  # the top half spans y 80..220
    assert line_texts(row) == BODY[6:] and row["rejected_regions"] == {"covered": 6}
