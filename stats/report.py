"""The HTML report of one or many corpora: a summary table and plots, in one self-contained file.

`write_report(dirs, out)` queries the catalog views (`stats.catalog`) and writes an HTML file with
every figure embedded as a base64 PNG, so the file can be mailed or opened offline. Distributions are
drawn from a uniform random sample of at most `MAX_POINTS` rows, which the report states when it
applies; counts are always exact. A section with nothing to show says so in words.
"""
from __future__ import annotations

import datetime as dt
import html
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import duckdb
import pandas as pd

from stats import report_plots as plots
from stats.catalog import open_catalog
from stats.report_languages import languages_html
from stats.report_ocr import ocr_cost_html
from stats.report_stages import stages_html

log = logging.getLogger(__name__)

MAX_POINTS = 200_000

SUMMARY_SQL = """
WITH s AS (SELECT corpus, count(*) AS samples, count(DISTINCT input_id) AS inputs_with_samples, sum(size) AS sample_bytes
           FROM samples GROUP BY corpus),
     e AS (SELECT corpus, count(*) FILTER (category = 'quarantine') AS quarantined,
                  count(*) FILTER (category = 'filtered') AS filtered,
                  count(*) FILTER (category = 'duplicate') AS duplicates,
                  count(*) FILTER (category IS NULL OR category NOT IN ('quarantine', 'filtered', 'duplicate')) AS other_errors
           FROM errors GROUP BY corpus),
     sh AS (SELECT corpus, count(*) FILTER (has_tar) AS shards, sum(coalesce(tar_bytes, sample_bytes)) AS tar_bytes
            FROM shards GROUP BY corpus),
     r AS (SELECT corpus, count(*) AS runs, max(started) AS last_run, sum(lost_inputs) AS lost_inputs FROM runs GROUP BY corpus)
SELECT c.corpus, c.pipeline, c.path, c.n_inputs AS inputs,
       coalesce(s.inputs_with_samples, 0) AS inputs_with_samples, coalesce(s.samples, 0) AS samples,
       coalesce(e.quarantined, 0) AS quarantined, coalesce(e.filtered, 0) AS filtered,
       coalesce(e.duplicates, 0) AS duplicates, coalesce(e.other_errors, 0) AS other_errors,
       coalesce(sh.shards, 0) AS shards, coalesce(sh.tar_bytes, 0) AS tar_bytes,
       coalesce(r.runs, 0) AS runs, r.last_run, coalesce(r.lost_inputs, 0) AS lost_inputs
FROM corpora c LEFT JOIN s USING (corpus) LEFT JOIN e USING (corpus) LEFT JOIN sh USING (corpus) LEFT JOIN r USING (corpus)
ORDER BY c.corpus
"""

SUMMARY_COLUMNS = [  # (column, header, tooltip)
    ("corpus", "corpus", "folder name"),
    ("pipeline", "pipeline", "docs, images or videos"),
    ("inputs", "inputs", "inputs the build was given (manifest)"),
    ("inputs_with_samples", "inputs with samples", "inputs that produced at least one sample"),
    ("samples", "samples", "rows in stats/*.parquet = samples in the tars"),
    ("quarantined", "quarantined", "bad inputs: corrupt, encrypted, too large, timed out"),
    ("filtered", "filtered", "inputs that do not qualify: too little text, too small"),
    ("duplicates", "duplicates", "inputs dropped as repeats of one kept earlier"),
    ("shards", "shards", "tar files"),
    ("tar_bytes", "size", "bytes of all tars"),
    ("runs", "runs", "build runs recorded in manifest.json"),
    ("last_run", "last run (UTC)", "start of the latest build run"),
]


@dataclass
class Section:
    """One report section: a title, what it shows, and a figure (data URI) or a table, or a sentence saying why not."""

    anchor: str
    title: str
    explain: str
    figure: str | None = None
    empty: str = ""
    extra_html: str = ""


def human_bytes(n: float | None) -> str:
    """1234567 -> '1.2 MB' (decimal units, like `ls -h --si`)."""
    if n is None or pd.isna(n):
        return "–"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} PB"


def _fmt(col: str, v: object) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "–"
    if col == "tar_bytes":
        return human_bytes(v)  # type: ignore[arg-type]
    if isinstance(v, (pd.Timestamp, dt.datetime)):
        return pd.Timestamp(v).tz_convert("UTC").strftime("%Y-%m-%d %H:%M") if pd.Timestamp(v).tzinfo else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f"{v:,.0f}"
    return html.escape(str(v))


def summary_html(summary: pd.DataFrame) -> str:
    """The summary table, one row per corpus, plus a total row when there are several."""
    num = {"inputs", "inputs_with_samples", "samples", "quarantined", "filtered", "duplicates", "shards", "tar_bytes", "runs"}
    head = "".join(f'<th title="{html.escape(tip)}" class="{"num" if c in num else ""}">{html.escape(h)}</th>'
                   for c, h, tip in SUMMARY_COLUMNS)
    rows = []
    for _, r in summary.iterrows():
        cells = "".join(f'<td class="{"num" if c in num else ""}"' + (f' title="{html.escape(str(r["path"]))}"' if c == "corpus" else "")
                        + f">{_fmt(c, r[c])}</td>" for c, _, _ in SUMMARY_COLUMNS)
        rows.append(f"<tr>{cells}</tr>")
    if len(summary) > 1:
        cells = "".join(
            f'<td class="num">{_fmt(c, summary[c].sum())}</td>' if c in num else ("<td>all corpora</td>" if c == "corpus" else "<td></td>")
            for c, _, _ in SUMMARY_COLUMNS)
        rows.append(f'<tr class="total">{cells}</tr>')
    warn = ""
    lost = int(summary["lost_inputs"].sum()) if len(summary) else 0
    other = int(summary["other_errors"].sum()) if len(summary) else 0
    if lost:
        warn += f'<p class="warn">{lost:,} inputs were lost by a build run (no sample, no error row): see the runs view.</p>'
    if other:
        warn += f'<p class="warn">{other:,} error rows have no known category.</p>'
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{warn}'


def _df(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.sql(sql).df()


def reasons_table(df: pd.DataFrame, limit: int = 15) -> str:
    """The most frequent error reasons with one example message each."""
    if df.empty:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(r.category))}</td><td>{html.escape(str(r.stage))}</td><td>{html.escape(str(r.error_type))}</td>"
        f'<td class="num">{r.n:,}</td><td class="msg">{html.escape(str(r.example or ""))[:300]}</td></tr>'
        for r in df.sort_values("n", ascending=False).head(limit).itertuples()
    )
    return ('<table class="reasons"><thead><tr><th>category</th><th>stage</th><th>error type</th><th class="num">inputs</th>'
            f"<th>example message</th></tr></thead><tbody>{rows}</tbody></table>")


def calibration_frame(paths: Sequence[str]) -> pd.DataFrame:
    """The calibration tables (DIR/calibration.parquet) of the local corpus folders that have one."""
    found = [Path(p) / "calibration.parquet" for p in paths if (Path(p) / "calibration.parquet").is_file()]
    cols = ["reader", "level", "cer", "clean_cer"]
    frames = []
    for f in found:
        df = pd.read_parquet(f)
        frames.append(df.assign(reader=df["reader"].fillna("rapidocr") if "reader" in df else "rapidocr")[cols])
    return pd.concat(frames) if frames else pd.DataFrame(columns=cols)


def build_sections(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, list[Section], str]:
    """Query the views and draw every figure; returns the summary, the sections and a sampling note."""
    summary = _df(con, SUMMARY_SQL)
    n = int(summary["samples"].sum())
    sample = f"USING SAMPLE {MAX_POINTS} ROWS" if n > MAX_POINTS else ""
    note = (f"Distributions are drawn from a uniform random sample of {MAX_POINTS:,} of the {n:,} samples; "
            "counts are exact.") if sample else ""
    dist = _df(con, f"SELECT task, text_len, width, height, n_frames, duration FROM samples {sample}")
    errors = _df(con, "SELECT category, stage, error_type, count(*) AS n, min(message) AS example FROM errors GROUP BY ALL")
    errors["reason"] = errors["stage"].fillna("?") + " · " + errors["error_type"].fillna("?")
    dups = errors[errors["category"] == "duplicate"]
    n_inputs, n_dups = int(summary["inputs"].fillna(0).sum()), int(dups["n"].sum())
    n_videos = int((dist["n_frames"].fillna(0) > 0).sum())
    sampled = f" Counts on the vertical axis are of a random sample of {MAX_POINTS:,} samples." if sample else ""

    sections = [
        Section("noise", "Samples by task and noise level",
                "How many samples train each task, and how strongly their images were corrupted "
                "(none → light → medium → masked).",
                plots.noise_by_task(_df(con, "SELECT coalesce(task, '(none)') AS task, coalesce(noise_level, '(none)') AS noise_level, "
                                             "count(*) AS n FROM samples GROUP BY ALL")),
                empty="No samples in this corpus."),
        Section("text", "Text lengths",
                "Length in characters of each sample's text (text_len), stacked by task; the dashed line is the median." + sampled,
                plots.text_lengths(dist[["task", "text_len"]]), empty="No sample records a text length."),
        Section("images", "Image and frame sizes",
                "Width and height in pixels of each sample's image (for video samples, of its frames)." + sampled,
                plots.image_sizes(dist[["width", "height"]]), empty="No sample records an image size."),
        Section("videos", "Video frames and durations",
                f"Frames stored per video sample and the duration of the clip they cover ({n_videos:,} video samples"
                + (" in the random sample" if sample else "") + ").",
                plots.video_frames(dist[["n_frames", "duration"]]), empty="No videos in this corpus."),
        Section("duplicates", "Duplicates dropped",
                f"{n_dups:,} input{' was' if n_dups == 1 else 's were'} dropped as duplicates of one kept earlier"
                + (f" ({100 * n_dups / n_inputs:.1f}% of {n_inputs:,} inputs)." if n_inputs else "."),
                plots.reasons(dups, "Duplicates dropped, by stage and rule"), empty="No duplicates were dropped."),
        Section("errors", "Error reasons",
                "Why inputs produced no sample: quarantined (bad input), filtered (does not qualify) or duplicate; "
                "one bar per stage and error type (top 20), with example messages below.",
                plots.reasons(errors, "Inputs without a sample, by reason"), empty="No errors: every input produced samples.",
                extra_html=reasons_table(errors)),
        Section("stages", "Operators",
                "What each operator of the build did, summed over its runs (manifest.json): rows it worked on, rows it "
                "produced, rows it stopped (with the top reasons) and seconds spent in it.",
                extra_html=stages_html(con, list(summary["corpus"]), list(summary["path"])),
                empty="No build run recorded per-operator figures (the corpus was built before they were)."),
        Section("shards", "Shard sizes",
                "Bytes of each tar on disk and the samples it holds; shards whose inputs all failed have no tar and are not shown.",
                plots.shard_sizes(_df(con, "SELECT corpus, shard_id, coalesce(tar_bytes, sample_bytes) AS tar_bytes, samples, has_tar "
                                           "FROM shards ORDER BY corpus, shard_id")),
                empty="No shard holds a sample yet."),
    ]
    if (summary["pipeline"] == "docs").any():  # only document samples record where their text came from
        sections.insert(1, Section(
            "text_paths", "Text paths of document samples",
            "Where the text of each document sample came from: the PDF's text layer, OCR of the page pixels "
            "(scans, text layers that disagree with the page), or mixed (a text layer plus OCR of the images on "
            "the page).",
            plots.text_paths(_df(con, "SELECT text_path, coalesce(task, '(none)') AS task, count(*) AS n "
                                      "FROM samples GROUP BY ALL")),
            empty="No sample records a text path: the corpus was built before the stats had the column."))
        sections[2:2] = [Section("languages", "Languages of document samples", "Pages and samples per language by "
                                 "the language model (stats column language, with language_confidence).",
                                 extra_html=languages_html(con), empty="No document samples."),
                         Section("ocr_cost", "OCR cost of document pages", "What each page's text cost, for what yield: "
                                 "pages kept by text path, pages dropped by reason (ocr_skip: stopped by a gate).",
                                 extra_html=ocr_cost_html(con), empty="No document page went through OCR.")]
    legibility = calibration_frame(summary["path"])
    if len(legibility):  # only corpora measured by `mmcorpus docs calibrate DIR --no-fit` have one
        sections.insert(1, Section(
            "legibility", "Legibility by noise level",
            "Character error rate of corrupted regions and of the same boxes read clean, by each OCR reader "
            "(RapidOCR, the project's; tesseract, an independent second reader), from each corpus's "
            "calibration.parquet (`mmcorpus docs calibrate DIR --no-fit`): a level holds where both readers' "
            "medians lie in its band (light <= 0.10, medium 0.30-0.80, masked >= 0.95).",
            plots.cer_by_level(legibility)))
    return summary, sections, note


CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2933;
       max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; line-height: 1.45; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 6px; padding-top: 12px; border-top: 1px solid #e4e7eb; }
.meta { color: #616e7c; margin: 0 0 18px; font-size: 14px; }
nav { font-size: 14px; margin: 10px 0 8px; }
nav a { color: #2f5d9e; text-decoration: none; margin-right: 14px; white-space: nowrap; }
nav a:hover { text-decoration: underline; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
th { background: #f5f7fa; font-weight: 600; border-bottom: 2px solid #cbd2d9; }
th[title] { cursor: help; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid #cbd2d9; }
td.msg { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; color: #52606d; max-width: 520px;
         word-break: break-word; }
.explain { color: #3e4c59; margin: 0 0 10px; }
.empty { color: #616e7c; font-style: italic; background: #f5f7fa; padding: 14px 18px; border-radius: 6px; }
.warn { color: #9b1c1c; background: #fdecec; padding: 8px 12px; border-radius: 6px; }
.note { color: #616e7c; font-size: 13px; }
img { max-width: 100%; height: auto; display: block; }
"""


def render_html(summary: pd.DataFrame, sections: Sequence[Section], note: str) -> str:
    """The whole report page."""
    names = ", ".join(summary["corpus"].astype(str)) if len(summary) else "(none)"
    paths = "; ".join(html.escape(str(p)) for p in summary["path"])
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        if s.figure or s.extra_html:
            img = f'<img src="{s.figure}" alt="{html.escape(s.title)}">' if s.figure else ""
            content = f'<p class="explain">{html.escape(s.explain)}</p>{img}{s.extra_html}'
        else:
            content = f'<p class="empty">{html.escape(s.empty)}</p>'
        body.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{content}</section>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>mmcorpus report: {html.escape(names)}</title><style>{CSS}</style></head>
<body>
<h1>Corpus report: {html.escape(names)}</h1>
<p class="meta">{paths}<br>generated {when} by <code>mmcorpus stats report</code></p>
{summary_html(summary)}
{f'<p class="note">{html.escape(note)}</p>' if note else ''}
<nav>{nav}</nav>
{''.join(body)}
</body></html>
"""


def write_report(dirs: Sequence[str | os.PathLike], out: str | os.PathLike, *, init_sql: str | None = None,
                 use_fsspec: bool | None = None) -> Path:
    """Query the corpora in `dirs` and write the HTML report to `out`; returns its path."""
    con = open_catalog(list(dirs), init_sql=init_sql, use_fsspec=use_fsspec)
    try:
        summary, sections, note = build_sections(con)
    finally:
        con.close()
    (out := Path(out)).parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(summary, sections, note), encoding="utf-8")
    log.info("report %s (%d sections, %.0f kB)", out, len(sections), out.stat().st_size / 1e3)
    return out
