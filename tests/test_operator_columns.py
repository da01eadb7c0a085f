"""Operators' declared columns: every real operator reads and writes exactly what it declares, on real
rows, and `Chain` refuses an order in which an operator reads a column nothing before it provides."""
from __future__ import annotations

import importlib
import io
import json
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image, ImageDraw

import operators
from corpus.errors import UserError
from operators.base import ENVELOPE, Chain, Filter, Operator, check_columns
from operators.docs.drop_pages import DropDuplicatePages, DropDuplicatePagesConfig
from operators.docs.filters import RegionFilter
from operators.docs.language import PageLanguage
from operators.docs.ocr import OcrRegions
from operators.docs.ocr_backends import OcrLine
from operators.docs.page_signature import PageDedupConfig, PageSignatures
from operators.docs.pdf_pages import PdfPages, PdfPagesConfig
from operators.docs.samples import DocSamples, DocSamplesConfig
from operators.docs.split import SplitDocuments
from operators.images.dedup import DropDuplicates, DropDuplicatesConfig
from operators.images.ops import ImageDecode, ImageFilter
from operators.images.samples import ImageSample
from operators.images.signature import ImageSignatures
from operators.videos.frames import VideoFrames, VideoFramesConfig
from operators.videos.samples import VideoSample
from pipelines.demo.videos import DEMO_VIDEOS, write_demo_videos
from pipelines.docs import DocsConfig, docs_steps
from pipelines.images import ImagesConfig, images_steps
from pipelines.videos import VideosConfig, videos_steps
from schemas.tables import DOC_UNIT_SCHEMA

ENV = set(ENVELOPE)


class Spy(dict):
    """A row that records which of its columns are looked at."""

    def __init__(self, row: dict) -> None:
        super().__init__(row)
        self.seen: set[str] = set()

    def __getitem__(self, k: str):  # noqa: ANN204
        self.seen.add(k)
        return super().__getitem__(k)

    def get(self, k: str, default=None):  # noqa: ANN201
        self.seen.add(k)
        return super().get(k, default)

    def __contains__(self, k: object) -> bool:
        self.seen.add(str(k))
        return super().__contains__(k)


def input_row(source: Path, kind: str, meta: dict | None = None) -> dict:
    """A row of the input table (INPUT_SCHEMA), as a build hands it to its first operator."""
    return dict(input_id=source.name, source=str(source), shard_id=0, seq=0, error_stage=None, error_type=None,
                error_message=None, error_category=None, kind=kind, meta_json=json.dumps(meta or {}))


def check(make: Callable[[], Operator], rows: list[dict]) -> None:
    """`make()`'s operator on `rows`: it reads only declared columns (and every column it needs), its output
    rows carry exactly the declared columns, and the declared reads alone give the same output."""
    op_type = type(make())
    reads, optional = set(op_type.reads), set(op_type.reads_if_present)
    seen: set[str] = set()
    for row in rows:
        spy = Spy(row)
        outs = list(make().process(spy))
        assert outs, op_type.__name__
        seen |= spy.seen
        for out in outs:
            assert out.get("error_type") is None, (op_type.__name__, out.get("error_message"))
            cols = set(out) - ENV
            if op_type.keeps_input:
                assert cols == (set(row) - ENV) | set(op_type.writes), op_type.__name__
                changed = {c for c in cols if c not in row or out[c] != row[c]}
                assert changed <= set(op_type.writes), (op_type.__name__, changed)
            else:
                assert cols == set(op_type.writes), (op_type.__name__, cols ^ set(op_type.writes))
        for keep in (reads | optional, reads):  # the declared columns suffice, the needed ones give output
            cut = {k: v for k, v in row.items() if k in ENV or k in keep}
            again = list(make().process(cut))
            if keep != reads:
                assert [{c: o[c] for c in op_type.writes} for o in again] == \
                       [{c: o[c] for c in op_type.writes} for o in outs], op_type.__name__
            assert again, op_type.__name__
    assert seen <= reads | optional, (op_type.__name__, seen - reads - optional)
    assert reads - ENV <= seen, (op_type.__name__, "declared as needed but never read:", reads - ENV - seen)
    assert set(op_type.writes) <= set(op_type.output_schema.names), op_type.__name__


class OneLine:
    """An OCR backend that reads one line anywhere (RapidOCR's own test is in test_doc_ocr_filter.py)."""

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        return [OcrLine((2.0, 2.0, image.shape[1] - 2.0, 20.0), "one line of words", 0.9)]

    def recognize_crops(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        raise AssertionError("the test page's text layer is plausible: nothing is read back")


def _png(text: str, size: tuple[int, int]) -> bytes:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((10, size[1] // 3), text, fill="black", font_size=28)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def doc_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Input rows of a small PDF (a text layer and a picture with words in it) and of a page image."""
    d = tmp_path_factory.mktemp("docs")
    doc = pymupdf.open()
    page = doc.new_page(width=360, height=300)
    page.insert_text((20, 30), "Columns Declared By Every Operator", fontsize=14)
    page.insert_textbox(pymupdf.Rect(20, 45, 340, 140), "A short paragraph of plain words that the text layer holds "
                        "and that the samples cut into regions to corrupt.", fontsize=11)
    page.insert_image(pymupdf.Rect(20, 160, 340, 280), stream=_png("Words in a picture", (640, 240)))
    doc.save(d / "small.pdf", no_new_id=True)
    (d / "scan.png").write_bytes(_png("A scanned line of text", (480, 120)))
    return {"pdf": input_row(d / "small.pdf", "pdf"), "image": input_row(d / "scan.png", "image")}


def test_doc_operators_declare_their_columns(doc_inputs: dict[str, dict]) -> None:
    pdf, image = doc_inputs["pdf"], doc_inputs["image"]
    check(SplitDocuments, [pdf, image])
    unit = next(SplitDocuments().run_rows([pdf]))
    check(PdfPages, [unit, image])
    small = PdfPages(PdfPagesConfig(dpi=72))  # smaller pages: quicker OCR
    page, scan = next(small.run_rows([unit])), next(small.run_rows([image]))
    assert page["has_text_layer"] and page["image_boxes"] and not scan["has_text_layer"]
    unmapped = {**page, "rejected_regions": {"unmapped": 1000}}  # the layer check refuses it: OCR instead
    check(lambda: OcrRegions(backend=OneLine()), [page, unmapped, scan])
    regions = next(OcrRegions(backend=OneLine()).run_rows([page]))
    check(lambda: PageSignatures(PageDedupConfig(min_words=5)), [pdf])
    check(lambda: DropDuplicatePages(DropDuplicatePagesConfig({pdf["input_id"]: {7: ("near_duplicate", "of x")}})),
          [regions])
    check(RegionFilter, [regions])
    kept = next(RegionFilter().run_rows([regions]))
    check(PageLanguage, [kept])
    check(lambda: DocSamples(DocSamplesConfig(transcribe_fraction=1.0)), [kept, next(PageLanguage().run_rows([kept]))])


def _smooth_image(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((256, 192)).save(path, "JPEG")
    return path


def test_image_operators_declare_their_columns(tmp_path: Path) -> None:
    row = input_row(_smooth_image(tmp_path / "photo.jpg"), "image", {"caption": "a test image"})
    check(ImageSignatures, [row])
    check(lambda: DropDuplicates(DropDuplicatesConfig({})), [row])
    check(ImageDecode, [row])
    decoded = next(ImageDecode().run_rows([row]))
    check(ImageFilter, [decoded])
    check(ImageSample, [decoded])


def test_video_operators_declare_their_columns(tmp_path: Path) -> None:
    demo = DEMO_VIDEOS[2]  # the shortest: 96 frames, stored rotated
    row = input_row(write_demo_videos(tmp_path, (demo,))[0], "video", demo.meta)
    frames_op, original_op = VideoFrames(), VideoFrames(replace(VideoFramesConfig(), store="original"))
    try:
        check(lambda: frames_op, [row])
        check(lambda: original_op, [row])
        rows = [next(frames_op.run_rows([row])), next(original_op.run_rows([row]))]
    finally:
        frames_op.close()
        original_op.close()
    check(VideoSample, rows)


def test_every_operator_is_checked() -> None:
    """A new operator under operators/ must join the tests above (their names are listed here)."""
    for mod in pkgutil.walk_packages(operators.__path__, "operators."):
        importlib.import_module(mod.name)
    found, todo = set(), [Operator]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("operators.") and sub is not Filter:
                found.add(sub)
    checked = {SplitDocuments, PdfPages, OcrRegions, PageSignatures, DropDuplicatePages, RegionFilter, PageLanguage,
               DocSamples, ImageSignatures, DropDuplicates,
               ImageDecode, ImageFilter, ImageSample, VideoFrames, VideoSample}
    assert found == checked


def test_chain_refuses_an_operator_reading_a_column_nobody_provides() -> None:
    with pytest.raises(UserError, match="RegionFilter reads column 'regions'.*put PdfPages before RegionFilter"):
        Chain(((RegionFilter, None), (PdfPages, None)))
    with pytest.raises(UserError, match="SplitDocuments reads column 'kind', which the rows PdfPages returns lack"):
        Chain(((PdfPages, None), (SplitDocuments, None)))
    with pytest.raises(UserError, match="OcrRegions reads column 'image'.*PdfPages writes it but an operator after"):
        Chain(((PdfPages, None), (DocSamples, None), (OcrRegions, None)))
    with pytest.raises(UserError, match="ImageSample reads column 'meta_json', which the rows ImageSignatures"):
        check_columns([ImageSignatures, ImageSample])
    with pytest.raises(UserError, match="VideoSample reads column 'frames'.*put VideoFrames before VideoSample"):
        check_columns([VideoSample, VideoFrames])
    with pytest.raises(UserError, match="DocSamples reads column 'image', which the input rows lack: add it to"):
        check_columns([DocSamples])


def test_the_pipelines_chains_pass_the_check() -> None:
    (docs,) = docs_steps(DocsConfig())
    assert [type(op) for op in docs.op(docs.config).ops] == [op for op, _ in docs.config]
    check_columns([s.op for s in images_steps(ImagesConfig(), {})])
    check_columns([s.op for s in videos_steps(VideosConfig())])
    check_columns([PdfPages, OcrRegions, RegionFilter])  # the text-checks benchmark's chain, on input rows
    check_columns([PdfPages, OcrRegions, RegionFilter, DocSamples], DOC_UNIT_SCHEMA.names)
