"""`mmcorpus stats catalog|query|report`: DuckDB over the stats, error and manifest tables of corpora."""
from __future__ import annotations

import argparse
import datetime as dt
import decimal
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from corpus.errors import UserError
from corpus.manifest import CATALOG_FILE
from corpus.storage import is_url

log = logging.getLogger(__name__)

VIEWS_HELP = """\
views (every one has a `corpus` column naming the folder a row comes from):
  samples   one row per sample: key, shard, "offset", size, members, task, noise_level, width, height,
            n_frames, duration, text_len, language, text_path, source, input_id, run_id, ...
  errors    one row per input that produced no sample: input_id, stage, error_type, message,
            category (quarantine | filtered | duplicate), shard, ...
  shards    one row per shard: samples, errors, inputs, tar_bytes, sample_bytes, has_tar, ...
  runs      one row per build run: run_id, started, seconds, inputs, samples, errors, lost_inputs, config
  corpora   one row per corpus folder: corpus, path, pipeline, prefix, n_inputs
Columns are documented in docs/TABLES.md. `offset` is an SQL keyword: write it "offset".
"""

REMOTE_HELP = """\
object storage:
  DIR may be s3://bucket/path, gs://bucket/path or an https:// URL. DuckDB reads it through its httpfs
  extension; give credentials with --init-sql (or $MMCORPUS_DUCKDB_INIT), e.g.
    --init-sql "CREATE SECRET (TYPE s3, PROVIDER credential_chain)"
  The init SQL runs on every connection and is never stored in the catalog. Without httpfs (offline
  machines) or for other schemes (memory://, abfs://), add --fsspec: DuckDB then reads through fsspec
  (install s3fs / gcsfs / adlfs for those schemes).
"""

CATALOG_EPILOG = f"""\
The database holds views, not copies: queries read the Parquet files as they are now, so shards added
by a build show up without a refresh. Rerun this command when you add or move corpus folders.

{VIEWS_HELP}
examples:
  mmcorpus stats catalog corpora/docs                       writes corpora/docs/{CATALOG_FILE}
  mmcorpus stats catalog corpora/docs corpora/videos --db all.duckdb
  duckdb all.duckdb -c "SELECT corpus, task, count(*) FROM samples GROUP BY ALL"

{REMOTE_HELP}"""

QUERY_EPILOG = f"""\
TARGET is a corpus folder (its {CATALOG_FILE} is used when present, else views are built in memory), several
folders, or a .duckdb catalog file.

{VIEWS_HELP}
examples:
  mmcorpus stats query corpora/docs "SELECT task, noise_level, count(*) AS n FROM samples GROUP BY ALL ORDER BY n DESC"
  mmcorpus stats query corpora/docs "SELECT category, error_type, count(*) FROM errors GROUP BY ALL"
  mmcorpus stats query corpora/docs "SELECT text_path, count(*) FROM samples GROUP BY ALL"
  mmcorpus stats query corpora/docs corpora/videos "SELECT corpus, sum(size) / 1e9 AS gb FROM samples GROUP BY corpus"
  mmcorpus stats query all.duckdb "SELECT * FROM samples WHERE text_len > 2000" --format parquet --out long.parquet

{REMOTE_HELP}"""

REPORT_EPILOG = """\
The report is one self-contained HTML file (plots embedded as PNG): a summary table per corpus, then
samples by task and noise level, document samples by text path (docs corpora), text lengths, image
sizes, video frames and durations, duplicates dropped, error reasons with example messages, and shard
sizes.

examples:
  mmcorpus stats report corpora/docs                        writes corpora/docs/report.html
  mmcorpus stats report corpora/docs corpora/videos --out both.html
"""


def _subcommand(sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int], help: str,
                description: str, epilog: str) -> argparse.ArgumentParser:
    """A `stats` subcommand that runs `func`, with the connection options every one takes in their own group."""
    p = sub.add_parser(name, help=help, description=description, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    connection = p.add_argument_group("connection")
    connection.add_argument("--init-sql", metavar="SQL_OR_FILE",
                            help="DuckDB SQL (or a file of it) run on every connection: extensions, secrets, settings")
    connection.add_argument("--fsspec", action="store_true", default=None,
                            help="read URLs through fsspec instead of DuckDB's httpfs (also: MMCORPUS_FSSPEC=1)")
    p.set_defaults(func=func)
    return p


def _add_dirs(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="corpus folders (local paths or URLs)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `stats` with its `catalog`, `query` and `report` subcommands."""
    stats = subparsers.add_parser(
        "stats", help="DuckDB catalog, SQL queries and HTML reports over built corpora",
        description="Ask questions of corpora with SQL, without opening a tar.\n\n" + VIEWS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = stats.add_subparsers(dest="stats_command", required=True, metavar="SUBCOMMAND")

    p = _subcommand(sub, "catalog", run_catalog, "build or refresh a DuckDB database with views over corpora",
                    "Build or refresh a DuckDB database with the views samples, errors, shards, runs and corpora "
                    "over one or many corpus folders.", CATALOG_EPILOG)
    _add_dirs(p)
    p.add_argument("--db", metavar="PATH", help=f"database file (default: DIR/{CATALOG_FILE} of the first DIR)")

    p = _subcommand(sub, "query", run_query, "run SQL over the views; print a table or write csv/json/parquet",
                    "Run one SQL statement over the catalog views of corpora.", QUERY_EPILOG)
    p.add_argument("targets", nargs="+", metavar="TARGET", help="corpus folder(s) or a .duckdb catalog")
    p.add_argument("sql", metavar="SQL", help="the query, e.g. \"SELECT task, count(*) FROM samples GROUP BY task\"")
    p.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table",
                   help="table (default) prints to stdout; csv, json (an array of objects) and parquet write --out")
    p.add_argument("--out", metavar="FILE", help="output file for csv, json or parquet")
    p.add_argument("--max-rows", type=int, default=100, metavar="N", help="rows printed in table format (default 100)")

    p = _subcommand(sub, "report", run_report, "write an HTML report with plots of one or many corpora",
                    "Write a self-contained HTML report with a summary table and plots.", REPORT_EPILOG)
    _add_dirs(p)
    p.add_argument("--out", metavar="FILE", help="HTML file (default: DIR/report.html of the first local DIR)")


def run_catalog(args: argparse.Namespace) -> int:
    """Write the catalog database and say where it is."""
    from stats.catalog import build_catalog
    from stats.duckdb_errors import user_errors

    with user_errors("stats catalog"):
        path, corpora = build_catalog(args.dirs, args.db, init_sql=args.init_sql, use_fsspec=args.fsspec)
    print(f"catalog {path}: views samples, errors, shards, runs, corpora over "
          + ", ".join(c.label for c in corpora))
    print(f'try: mmcorpus stats query {path} "SELECT corpus, task, count(*) AS n FROM samples GROUP BY ALL ORDER BY ALL"')
    return 0


def _cell(v: Any, width: int = 48) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        s = f"{v:.6g}"
    elif isinstance(v, (dt.datetime, dt.date)):
        s = v.isoformat(sep=" ", timespec="seconds") if isinstance(v, dt.datetime) else v.isoformat()
    elif isinstance(v, (bytes, bytearray)):
        s = f"<{len(v)} bytes>"
    elif isinstance(v, decimal.Decimal):
        s = str(v)
    else:
        s = str(v)
    s = s.replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool]) -> str:
    """Rows as an aligned text table: numbers right-aligned, long values cut with an ellipsis."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()

    out = [line(columns), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


NUMERIC = ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "HUGEINT", "BIGINT", "SMALLINT", "TINYINT")


def run_query(args: argparse.Namespace) -> int:
    """Run the SQL; print an aligned table or write the result file."""
    from stats.catalog import open_catalog, sql_str
    from stats.duckdb_errors import user_errors

    sql = args.sql.strip().rstrip(";").strip()
    with user_errors("reading the corpora"):
        con = open_catalog(args.targets, init_sql=args.init_sql, use_fsspec=args.fsspec)
    try:
        with user_errors(f"the query {sql!r} does not run"):
            if args.format == "table":
                rel = con.sql(sql)
                if rel is None:
                    print("ok")
                    return 0
                rows = rel.limit(args.max_rows + 1).fetchall()
                numeric = [any(n in str(t).upper() for n in NUMERIC) and "[]" not in str(t) for t in rel.types]
                print(format_table(rel.columns, rows[: args.max_rows], numeric))
                if len(rows) > args.max_rows:
                    print(f"(first {args.max_rows} rows shown; use --max-rows N, or --format csv --out FILE for all)")
                else:
                    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
                return 0
            if not args.out:
                raise UserError(f"--format {args.format} writes a file: add --out FILE")
            options = {"csv": "FORMAT csv, HEADER true", "json": "FORMAT json, ARRAY true", "parquet": "FORMAT parquet"}[args.format]
            out = args.out if is_url(args.out) else str(Path(args.out).expanduser().resolve())
            con.execute(f"COPY ({sql}) TO {sql_str(out)} ({options})")
            log.info("wrote %s", out)
            return 0
    finally:
        con.close()


def run_report(args: argparse.Namespace) -> int:
    """Write the HTML report and say where it is."""
    from stats.catalog import normalize
    from stats.duckdb_errors import user_errors
    from stats.report import write_report

    if args.out:
        out = Path(args.out)
    else:
        local = [d for d in args.dirs if not is_url(d)]
        if not local:
            raise UserError("every DIR is remote: give the report file with --out FILE.html")
        out = Path(normalize(local[0])) / "report.html"
    with user_errors("stats report"):
        path = write_report(args.dirs, out, init_sql=args.init_sql, use_fsspec=args.fsspec)
    print(f"report {path}")
    return 0
