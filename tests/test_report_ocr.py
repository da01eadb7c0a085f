"""The report's OCR cost table (`stats.report_ocr`): pages kept by text path, pages dropped by reason,
and the share of OCR seconds spent on dropped pages, from the stats and errors columns."""
from __future__ import annotations

import duckdb

from stats.report_ocr import ocr_cost_html


def _catalog(seconds: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("""CREATE TABLE samples AS SELECT * FROM (VALUES
        ('docs', 'c', 'a.pdf', 0, 'text_layer', NULL, 0.01), ('docs', 'c', 'a.pdf', 0, 'text_layer', NULL, 0.01),
        ('docs', 'c', 'scan.pdf', 0, 'ocr', 3.0, 0.0), ('images', 'i', 'x.jpg', NULL, NULL, NULL, NULL))
        AS t(pipeline, corpus, input_id, page_index, text_path, ocr_seconds, layer_check_seconds)""")
    if not seconds:
        con.execute("UPDATE samples SET ocr_seconds = NULL, layer_check_seconds = NULL")
    con.execute("""CREATE TABLE errors AS SELECT * FROM (VALUES
        ('docs', 'too_little_text', 'blank_page', 0.02, NULL), ('docs', 'too_little_text', NULL, 1.0, 0.0),
        ('docs', 'NotAPdf', NULL, NULL, NULL))
        AS t(pipeline, error_type, ocr_skip, ocr_seconds, layer_check_seconds)""")
    return con


def test_kept_pages_count_once_and_dropped_pages_carry_their_seconds() -> None:
    out = ocr_cost_html(_catalog(seconds=True))
    assert "kept · text_layer</td><td class=\"num\">1</td><td class=\"num\">2</td>" in out  # one page, two samples
    assert "dropped · blank_page" in out and "dropped · too_little_text" in out and "NotAPdf" not in out
    assert "25% of the 4.0 OCR seconds went to pages that were then dropped" in out  # 1.02 of 4.02


def test_without_recorded_seconds_the_table_says_how_to_get_them() -> None:
    con = _catalog(seconds=False)
    con.execute("UPDATE errors SET ocr_seconds = NULL")
    out = ocr_cost_html(con)
    assert "—" in out and "ocr.record_seconds=true" in out
