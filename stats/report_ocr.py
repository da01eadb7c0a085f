"""The report's OCR cost table: what finding the text of document pages cost, and what it bought.

One row per text path of the pages that yield samples ("text_layer", "ocr", "mixed"; a page counted once
however many samples it gave) and one per reason of the pages dropped after OCR or a layer check ran on
them (their `ocr_skip` when a gate stopped OCR, else their error type), with pages, samples, and the
seconds of OCR and of the layer check (stats and errors columns `ocr_seconds`, `layer_check_seconds`,
recorded by builds with `ocr.record_seconds`), and the share of all OCR seconds spent on dropped pages.
"""
from __future__ import annotations

import html

import duckdb

KEPT_SQL = """
WITH pages AS (
  SELECT corpus, input_id, page_index, any_value(text_path) AS text_path, count(*) AS samples,
         max(ocr_seconds) AS ocr, max(layer_check_seconds) AS checked
  FROM samples WHERE pipeline = 'docs' GROUP BY ALL)
SELECT 'kept · ' || coalesce(text_path, '(none)'), count(*), sum(samples), sum(ocr), sum(checked)
FROM pages GROUP BY ALL ORDER BY 2 DESC
"""
DROPPED_SQL = """
SELECT 'dropped · ' || coalesce(ocr_skip, error_type), count(*), 0, sum(ocr_seconds), sum(layer_check_seconds)
FROM errors WHERE pipeline = 'docs' AND (ocr_skip IS NOT NULL OR ocr_seconds > 0 OR layer_check_seconds > 0)
GROUP BY ALL ORDER BY 2 DESC
"""


def _secs(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}"


def ocr_cost_html(con: duckdb.DuckDBPyConnection) -> str:
    """The OCR cost table of the docs corpora in the catalog; "" when there are no document pages."""
    kept, dropped = con.execute(KEPT_SQL).fetchall(), con.execute(DROPPED_SQL).fetchall()
    if not kept and not dropped:
        return ""
    body = "".join(
        f'<tr><td>{html.escape(label)}</td><td class="num">{pages:,}</td><td class="num">{samples:,}</td>'
        f'<td class="num">{_secs(ocr)}</td><td class="num">{_secs(checked)}</td></tr>'
        for label, pages, samples, ocr, checked in kept + dropped)
    spent = sum(r[3] or 0 for r in kept + dropped)
    if spent:
        share = sum(r[3] or 0 for r in dropped) / spent
        note = f"{100 * share:.0f}% of the {spent:,.1f} OCR seconds went to pages that were then dropped."
    else:
        note = "No per-page seconds recorded: build with --set ocr.record_seconds=true to have them."
    head = "<th>pages</th>" + "".join(f'<th class="num">{h}</th>' for h in ("pages", "samples", "OCR s", "layer check s"))
    return f'<table class="ocr"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p class="note">{note}</p>'
