"""The report's language table: document pages and samples per language (by the model,
`operators.docs.language`), with the mean confidence, and the pages the language filter dropped.

Pages are counted once however many samples they gave (distinct corpus, input id, page); a null
language is a page with too little text to tell, or a corpus built before the stats had the column.
"""
from __future__ import annotations

import html

import duckdb

LANGUAGES_SQL = """
SELECT coalesce(language, '(unknown)') AS language, count(DISTINCT (corpus, input_id, page_index)) AS pages,
       count(*) AS samples, avg(language_confidence) AS confidence
FROM samples WHERE pipeline = 'docs' GROUP BY ALL ORDER BY pages DESC, language
"""
DROPPED_SQL = "SELECT count(*) FROM errors WHERE stage = 'language' AND error_type = 'language'"


def languages_html(con: duckdb.DuckDBPyConnection, limit: int = 30) -> str:
    """The table of the `limit` most frequent languages of document pages; "" when there are none."""
    rows = con.execute(LANGUAGES_SQL).fetchall()
    if not rows:
        return ""
    total = sum(r[1] for r in rows) or 1
    body = "".join(
        f'<tr><td>{html.escape(lang)}</td><td class="num">{pages:,}</td><td class="num">{100 * pages / total:.1f}%</td>'
        f'<td class="num">{samples:,}</td><td class="num">{"" if conf is None else f"{conf:.3f}"}</td></tr>'
        for lang, pages, samples, conf in rows[:limit])
    more = f'<p class="note">{len(rows) - limit} rarer languages not shown.</p>' if len(rows) > limit else ""
    dropped = con.execute(DROPPED_SQL).fetchall()[0][0]
    note = f'<p class="note">{dropped:,} pages dropped by the language filter (language.keep).</p>' if dropped else ""
    head = '<th>language</th><th class="num">pages</th><th class="num">share</th><th class="num">samples</th>' \
           '<th class="num">mean confidence</th>'
    return f'<table class="languages"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}{note}'
