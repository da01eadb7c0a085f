"""The report's operator table: what each operator of a build did, from the manifests' run entries.

Per corpus and operator, in pipeline order: rows in, rows out, rows rejected (with the most frequent
reasons) and seconds spent in it, summed over every build run (`corpus.manifest.corpus_stages`).
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import duckdb

from corpus.manifest import corpus_stages
from stats.catalog import read_manifest


def stages_html(con: duckdb.DuckDBPyConnection, corpora: Sequence[str], paths: Sequence[str]) -> str:
    """The operator table of the corpora at `paths` (labelled `corpora`); "" when no run recorded stages."""
    rows = []
    for corpus, path in zip(corpora, paths):
        stages = corpus_stages(read_manifest(con, str(path)).get("runs", []))
        total = sum(s["seconds"] for s in stages) or 1.0
        for s in stages:
            rejected = sum(s["rejected"].values())
            top = sorted(s["rejected"].items(), key=lambda kv: -kv[1])[:3]
            reasons = ", ".join(f"{html.escape(k)} ({n:,})" for k, n in top) + (", …" if len(s["rejected"]) > 3 else "")
            rows.append(f'<tr><td>{html.escape(str(corpus))}</td><td>{html.escape(s["operator"])}</td>'
                        f'<td class="num">{s["rows_in"]:,}</td><td class="num">{s["rows_out"]:,}</td>'
                        f'<td class="num">{rejected:,}</td><td class="msg">{reasons}</td>'
                        f'<td class="num">{s["seconds"]:,.1f}</td>'
                        f'<td class="num">{100 * s["seconds"] / total:.0f}%</td></tr>')
    if not rows:
        return ""
    head = "<th>corpus</th><th>operator</th>" + "".join(
        f'<th class="num">{h}</th>' if h != "top reasons" else f"<th>{h}</th>"
        for h in ("rows in", "rows out", "rejected", "top reasons", "seconds", "share"))
    return f'<table class="stages"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
