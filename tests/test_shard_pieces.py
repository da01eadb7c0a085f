"""Fewer shards than CPUs: a shard's inputs fan out to piece tasks whose rows come back, in input order,
to the shard's one writer (`pipelines.engine.pieces`)."""
from __future__ import annotations

import json

import pytest

from operators.base import Chain
from operators.docs.pdf_pages import PdfPages
from operators.docs.split import SplitDocuments
from pipelines.engine.pieces import Pieces, TailChain, cut, pieces_per_shard, split_head
from pipelines.engine.steps import Step, run_steps
from tests.test_operator_stats import KeepEven, Pages, _rows


@pytest.mark.parametrize("shards, slots, pieces", [
    (1, 16, 16),  # one shard on 16 CPUs: 16 pieces
    (3, 16, 6),  # 3 shards: 6 pieces each fill the 16 slots
    (2, 2, 1),  # as many shards as slots: no fan-out (measured slower)
    (40, 16, 1),
    (1, 1, 1),
    (0, 4, 1),
])
def test_pieces_fill_idle_slots_only(shards, slots, pieces):
    assert pieces_per_shard(shards, slots) == pieces


def test_cut_keeps_order_and_balances():
    rows = list(range(10))
    parts = cut(rows, 4)
    assert [len(p) for p in parts] == [3, 3, 2, 2] and sum(parts, []) == rows
    assert cut(rows[:2], 5) == [[0], [1]]  # never more pieces than units of work


def test_pieces_yield_the_rows_and_figures_of_the_whole_shard(ray_session):
    steps = [Step(Chain, [(Pages, None), (KeepEven, None)])]
    rows = _rows(["a", "bad-b", "c", "d", "e"])
    whole = list(run_steps(steps, rows))
    pieces = Pieces(steps, rows, 3)
    assert list(pieces) == whole  # same rows, same order (error rows included)
    figures = json.loads(pieces.stages)
    assert figures["Pages"][:2] == [5, 8] and figures["Pages"][3] == {"quarantine:OSError": 1, "quarantine:Timeout": 1}
    assert figures["KeepEven"][:2] == [8, 4] and figures["KeepEven"][3] == {"filtered:odd": 4}


def test_a_docs_chain_is_cut_after_its_split_into_page_ranges():
    from pipelines.docs import DocsConfig, docs_steps
    from pipelines.videos import VideosConfig, videos_steps

    head, tail = split_head(docs_steps(DocsConfig()))
    assert [op for op, _ in head[0].config] == [SplitDocuments]
    assert tail[0].op is TailChain and tail[0].config.links[0][0] is PdfPages
    assert "page_start" in tail[0].config.input_columns
    videos = videos_steps(VideosConfig())
    assert split_head(videos) == ([], videos)  # nothing splits videos: pieces are cut between inputs


def test_one_long_pdf_fans_out_by_page_ranges_with_the_same_bytes(ray_session, tmp_path, monkeypatch):
    """A shard of one 32-page PDF (8 page ranges of 4 pages) cut into 8 pieces writes the bytes the same
    build writes with one task per shard, and its figures say where the pages went."""
    import pymupdf

    import pipelines.engine.execute
    from pipelines.demo.documents import generate_demo_corpus
    from pipelines.docs import DocsConfig, build_docs
    from pipelines.engine.run_config import RunConfig
    from tests.build_identity import corpus_digests

    book = pymupdf.open()
    for _ in range(2):
        for p in sorted(generate_demo_corpus(tmp_path / "src")):
            if p.suffix == ".pdf" and "scan" not in p.name:
                book.insert_pdf(pymupdf.open(p))
    (tmp_path / "in").mkdir()
    book.save(tmp_path / "in" / "book.pdf", no_new_id=True)
    assert book.page_count == 32
    monkeypatch.setattr(pipelines.engine.execute, "pieces_per_shard", lambda shards, slots: 8)
    digests = {}
    for fan_out in (False, True):
        cfg = DocsConfig(run=RunConfig(progress=False, fan_out=fan_out))
        cfg.split.pages_per_unit = 4
        build_docs([str(tmp_path / "in")], tmp_path / f"out-{fan_out}", cfg)
        digests[fan_out] = {k: v for k, v in corpus_digests(tmp_path / f"out-{fan_out}").items() if k != "manifest.json"}
    assert digests[True] == digests[False] and any(k.startswith("shards/") for k in digests[True])
    stages = {s["operator"]: s for s in json.loads((tmp_path / "out-True" / "manifest.json").read_text())["runs"][-1]["stages"]}
    assert (stages["SplitDocuments"]["rows_in"], stages["SplitDocuments"]["rows_out"]) == (1, 8)
    assert (stages["PdfPages"]["rows_in"], stages["PdfPages"]["rows_out"]) == (8, 32)
