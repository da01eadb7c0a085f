"""The DuckDB catalog: SQL views over the Parquet tables of one or many corpus folders.

`build_catalog(dirs, db)` writes a DuckDB database (by default `DIR/catalog.duckdb`) whose views read
the corpora's files at query time, so a catalog never holds a copy of the data and never goes stale
while a build adds shards. Views (every one has a `corpus` column naming the folder a row came from):

- `samples`: one row per sample, `stats/{prefix}-*.parquet` (STATS_SCHEMA) of every corpus;
- `errors`:  one row per input that produced no sample, `errors/{prefix}-*.parquet` (ERROR_SCHEMA);
  both have every column of their schema, in its order: null where a file lacks it (written before
  the column existed, e.g. `text_path` in corpora built before it), and the columns of newer files after;
- `shards`:  one row per shard: samples, errors and sample bytes counted from the tables, joined with
  the shard list of `manifest.json` (tar size on disk, inputs);
- `runs`:    one row per build run recorded in `manifest.json`;
- `corpora`: one row per corpus folder: label, path, pipeline, prefix, inputs.

Rerun `build_catalog` only when the set of folders changes or a folder moves (views hold absolute
paths). Folders may be object-storage URLs (`s3://`, `gs://`, `https://`): URLs are passed to DuckDB as
they are, and DuckDB reads them through its `httpfs` extension; configure access with `init_sql`
(e.g. `CREATE SECRET (TYPE s3, PROVIDER credential_chain)`), which runs on every connection. Where
httpfs is not installed (it cannot be downloaded offline), or for schemes it does not know
(`memory://`, `abfs://`, ...), DuckDB reads through the fsspec filesystem of the scheme instead, which
takes its endpoint and credentials from the environment (`AWS_ENDPOINT_URL`, ...); `use_fsspec=True`,
`--fsspec`, or $MMCORPUS_FSSPEC=1 forces this for every scheme.
"""
from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import duckdb
import pyarrow as pa

from corpus.errors import UserError
from corpus.manifest import CATALOG_FILE, MANIFEST
from corpus.sink import ERRORS, STATS
from corpus.storage import is_url
from schemas.tables import ERROR_SCHEMA, STATS_SCHEMA
from stats.duckdb_io import connect, normalize, register_fsspec, sql_str

log = logging.getLogger(__name__)

VIEWS = ("samples", "errors", "shards", "runs", "corpora")
NOT_A_CORPUS = "is it a corpus folder built by mmcorpus?"


@dataclass(frozen=True)
class Corpus:
    """One corpus folder as the catalog sees it: a short unique `label` and its absolute path or URL."""

    label: str
    path: str
    pipeline: str
    prefix: str

    def file(self, *parts: str) -> str:
        """A path (or URL) below the corpus folder."""
        return "/".join([self.path.rstrip("/"), *parts])


def read_manifest(con: duckdb.DuckDBPyConnection, path: str) -> dict:
    """The parsed `manifest.json` of a corpus folder (local or URL); UserError with advice when absent."""
    mpath = f"{path.rstrip('/')}/{MANIFEST}"
    try:
        if is_url(path):
            text = con.execute("SELECT content FROM read_text(?)", [mpath]).fetchall()[0][0]
        else:
            text = Path(mpath).read_text()
    except (FileNotFoundError, IndexError, duckdb.Error) as e:
        raise UserError(f"no {MANIFEST} in {path}: {NOT_A_CORPUS} ({type(e).__name__})") from e
    return json.loads(text)


def _has_files(con: duckdb.DuckDBPyConnection, pattern: str) -> bool:
    if is_url(pattern):
        return bool(con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchall()[0][0])
    p = PurePosixPath(pattern)
    return any(Path(p.parent).glob(p.name))


def _labels(paths: Sequence[str]) -> list[str]:
    """Short unique labels: the folder name, with parents added until every label differs."""
    depth = 1
    while True:
        labels = ["/".join(PurePosixPath(p.split("://", 1)[-1]).parts[-depth:]) for p in paths]
        dup = [lab for lab, n in Counter(labels).items() if n > 1]
        if not dup or depth > 8:
            break
        depth += 1
    seen: Counter[str] = Counter()
    out = []
    for lab in labels:  # the same folder given twice keeps distinct labels
        seen[lab] += 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


def resolve_corpora(con: duckdb.DuckDBPyConnection, dirs: Sequence[str | os.PathLike]) -> list[Corpus]:
    """Check each folder is a corpus (manifest + stats files) and give it a label."""
    if not dirs:
        raise UserError("no corpus folder given")
    paths = [normalize(d) for d in dirs]
    corpora = []
    for label, path in zip(_labels(paths), paths):
        m = read_manifest(con, path)
        prefix, pipeline = m.get("prefix"), m.get("pipeline")
        if not prefix:
            raise UserError(f"{path}/{MANIFEST} has no 'prefix': {NOT_A_CORPUS}")
        c = Corpus(label=label, path=path, pipeline=pipeline or "", prefix=prefix)
        if not _has_files(con, c.file(STATS, f"{prefix}-*.parquet")):
            raise UserError(f"no {STATS}/{prefix}-*.parquet under {path}: {NOT_A_CORPUS} "
                             "(a build writes a shard's stats file when the shard is complete)")
        corpora.append(c)
    return corpora


def _columns_sql(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> str:
    """A query of no rows with every column of `schema`, typed: first in a UNION ALL BY NAME, it gives the
    result every column, in the schema's order, also over files written before a column existed."""
    rel = con.from_arrow(schema.empty_table())
    columns = ", ".join(f'NULL::{t} AS "{name}"' for name, t in zip(rel.columns, map(str, rel.dtypes)))
    return f"SELECT NULL::VARCHAR AS corpus, {columns} WHERE false"


def _table_sql(con: duckdb.DuckDBPyConnection, corpora: Sequence[Corpus], sub: str, schema: pa.Schema) -> str:
    """A UNION ALL BY NAME of one Parquet scan per corpus, each row tagged with its corpus label; every
    column of `schema` is there, null in rows of files that lack it (a corpus built before it existed)."""
    parts = [_columns_sql(con, schema)] + [
        f"SELECT {sql_str(c.label)} AS corpus, * FROM read_parquet({sql_str(c.file(sub, c.prefix + '-*.parquet'))}, union_by_name = true)"
        for c in corpora
    ]
    return "\nUNION ALL BY NAME\n".join(parts)


def _manifest_sql(c: Corpus) -> str:
    return f"(SELECT content::JSON AS m FROM read_text({sql_str(c.file(MANIFEST))}))"


def _manifest_shards_sql(corpora: Sequence[Corpus]) -> str:
    parts = [
        f"""SELECT {sql_str(c.label)} AS corpus, j.key || '.tar' AS shard,
       (j.value->>'shard_id')::BIGINT AS shard_id, (j.value->>'tar') IS NOT NULL AS has_tar,
       (j.value->>'bytes')::BIGINT AS tar_bytes, (j.value->>'inputs')::BIGINT AS inputs,
       (j.value->>'samples')::BIGINT AS manifest_samples, (j.value->>'errors')::BIGINT AS manifest_errors
FROM {_manifest_sql(c)}, json_each(m->'shards') AS j"""
        for c in corpora
    ]
    return "\nUNION ALL\n".join(parts)


SHARDS_VIEW = """
CREATE OR REPLACE VIEW shards AS
WITH st AS (SELECT corpus, shard, count(*) AS samples, sum(size) AS sample_bytes FROM samples GROUP BY ALL),
     er AS (SELECT corpus, shard, count(*) AS errors FROM errors GROUP BY ALL),
     ms AS ({manifest})
SELECT corpus, shard,
       coalesce(shard_id, TRY_CAST(regexp_extract(shard, '-(\\d+)\\.tar$', 1) AS BIGINT)) AS shard_id,
       coalesce(st.samples, 0) AS samples,
       coalesce(er.errors, 0) AS errors,
       inputs,
       tar_bytes,
       coalesce(st.sample_bytes, 0) AS sample_bytes,
       coalesce(has_tar, st.samples > 0) AS has_tar,
       ms.shard_id IS NOT NULL AS in_manifest,
       manifest_samples, manifest_errors
FROM ms FULL JOIN st USING (corpus, shard) FULL JOIN er USING (corpus, shard)
"""


def _runs_sql(corpora: Sequence[Corpus]) -> str:
    parts = [
        f"""SELECT {sql_str(c.label)} AS corpus, m->>'pipeline' AS pipeline, r->>'run_id' AS run_id,
       to_timestamp((r->>'started')::DOUBLE) AS started, (r->>'seconds')::DOUBLE AS seconds,
       (r->'counts'->>'inputs')::BIGINT AS inputs, (r->'counts'->>'inputs_skipped')::BIGINT AS inputs_skipped,
       (r->'counts'->>'shards_written')::BIGINT AS shards_written, (r->'counts'->>'samples')::BIGINT AS samples,
       (r->'counts'->>'errors')::BIGINT AS errors, coalesce(json_array_length(r->'lost_inputs'), 0) AS lost_inputs,
       r->'run' AS run, r->'config' AS config
FROM {_manifest_sql(c)}, unnest(json_extract(m, '$.runs[*]')) AS t(r)"""
        for c in corpora
    ]
    return "\nUNION ALL\n".join(parts)


def _corpora_sql(corpora: Sequence[Corpus]) -> str:
    parts = [
        f"""SELECT {sql_str(c.label)} AS corpus, {sql_str(c.path)} AS path, m->>'pipeline' AS pipeline,
       m->>'prefix' AS prefix, (m->>'n_inputs')::BIGINT AS n_inputs,
       (m->>'inputs_per_shard')::BIGINT AS inputs_per_shard, (m->>'schema_version')::INTEGER AS schema_version
FROM {_manifest_sql(c)}"""
        for c in corpora
    ]
    return "\nUNION ALL\n".join(parts)


def create_views(con: duckdb.DuckDBPyConnection, corpora: Sequence[Corpus], temporary: bool = False) -> None:
    """(Re)create the catalog views over `corpora` on `con`."""
    kw = "TEMP VIEW" if temporary else "VIEW"
    con.execute(f"CREATE OR REPLACE {kw} samples AS\n{_table_sql(con, corpora, STATS, STATS_SCHEMA)}")
    con.execute(f"CREATE OR REPLACE {kw} errors AS\n{_table_sql(con, corpora, ERRORS, ERROR_SCHEMA)}")
    con.execute(SHARDS_VIEW.replace("VIEW", kw, 1).format(manifest=_manifest_shards_sql(corpora)))
    con.execute(f"CREATE OR REPLACE {kw} runs AS\n{_runs_sql(corpora)}")
    con.execute(f"CREATE OR REPLACE {kw} corpora AS\n{_corpora_sql(corpora)}")


def default_db(dirs: Sequence[str | os.PathLike]) -> Path:
    """`DIR/catalog.duckdb` beside the first corpus; a URL corpus needs an explicit database path."""
    first = str(dirs[0])
    if is_url(first):
        raise UserError(f"{first} is remote: give a local database file with --db PATH (e.g. --db corpus.duckdb)")
    return Path(normalize(first)) / CATALOG_FILE


def build_catalog(dirs: Sequence[str | os.PathLike], db: str | os.PathLike | None = None, *, init_sql: str | None = None,
                  use_fsspec: bool | None = None) -> tuple[Path, list[Corpus]]:
    """Write (or refresh) the catalog database over `dirs`; returns its path and the corpora it covers.

    The views are replaced as a whole: afterwards they cover exactly `dirs`.
    """
    path = Path(db) if db is not None else default_db(dirs)
    urls = [str(d) for d in dirs]
    probe = connect(init_sql=init_sql, urls=urls, use_fsspec=use_fsspec)
    try:
        corpora = resolve_corpora(probe, dirs)  # check every folder before writing anything
    finally:
        probe.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(path), init_sql=init_sql, urls=urls, use_fsspec=use_fsspec)
    try:
        con.execute("BEGIN")
        create_views(con, corpora)
        con.execute("CREATE OR REPLACE TABLE mmcorpus_catalog (corpus VARCHAR, path VARCHAR, pipeline VARCHAR, prefix VARCHAR)")
        con.executemany("INSERT INTO mmcorpus_catalog VALUES (?, ?, ?, ?)", [(c.label, c.path, c.pipeline, c.prefix) for c in corpora])
        con.execute("COMMIT")
    finally:
        con.close()
    log.info("catalog %s: views %s over %s", path, ", ".join(VIEWS), ", ".join(f"{c.label} ({c.path})" for c in corpora))
    return path, corpora


def _open_file(path: str, init_sql: str | None, use_fsspec: bool | None) -> duckdb.DuckDBPyConnection:
    con = connect(path, read_only=True, init_sql=init_sql)
    try:
        paths = [r[0] for r in con.execute("SELECT path FROM mmcorpus_catalog").fetchall()]
    except duckdb.Error:
        paths = []
    register_fsspec(con, paths, use_fsspec)
    return con


def open_catalog(target: str | os.PathLike | Sequence[str | os.PathLike], *, init_sql: str | None = None,
                 use_fsspec: bool | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with the catalog views, for a `.duckdb` file, one corpus folder, or several.

    A single folder with a `catalog.duckdb` opens that file read-only; otherwise the views are built in
    memory over the folder(s) (nothing is written beside the corpus).
    """
    targets = [target] if isinstance(target, (str, os.PathLike)) else list(target)
    if len(targets) == 1:
        t = str(targets[0])
        if not is_url(t) and t.endswith(".duckdb"):
            if not Path(t).is_file():
                raise UserError(f"no catalog database {t}: create it with `mmcorpus stats catalog DIR... --db {t}`")
            return _open_file(t, init_sql, use_fsspec)
        if not is_url(t) and (Path(t) / CATALOG_FILE).is_file():
            log.debug("using %s", Path(t) / CATALOG_FILE)
            return _open_file(str(Path(t) / CATALOG_FILE), init_sql, use_fsspec)
    con = connect(init_sql=init_sql, urls=[str(t) for t in targets], use_fsspec=use_fsspec)
    create_views(con, resolve_corpora(con, targets), temporary=True)
    return con
