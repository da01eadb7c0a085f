"""DuckDB connections that read corpus files locally or from object storage.

URLs (`s3://`, `gs://`, `https://`) are read by DuckDB's `httpfs` extension when it is installed, else
(offline machines cannot download it, or schemes it does not know) through the scheme's fsspec
filesystem registered with the connection, which takes endpoint and credentials from the environment
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...). `init_sql` (text or a file; default $MMCORPUS_DUCKDB_INIT)
runs on every connection, e.g. to create an httpfs secret.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import duckdb

from corpus.errors import UserError
from corpus.storage import is_url, local_path

log = logging.getLogger(__name__)

INIT_SQL_ENV = "MMCORPUS_DUCKDB_INIT"
FSSPEC_ENV = "MMCORPUS_FSSPEC"
#: URL schemes DuckDB's httpfs extension reads itself; any other scheme goes through fsspec.
HTTPFS_SCHEMES = {"s3", "s3a", "s3n", "gs", "gcs", "r2", "http", "https", "hf", "az", "azure", "abfss"}


def normalize(path: str | os.PathLike) -> str:
    """An absolute local path, or the URL unchanged (without a trailing slash)."""
    s = str(path)
    return s.rstrip("/") if is_url(s) else str(Path(local_path(s)).expanduser().resolve())


def sql_str(value: str) -> str:
    """`value` as a quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def init_sql_text(init_sql: str | None = None) -> str | None:
    """SQL to run on every connection: `init_sql` (text or a file holding it), else $MMCORPUS_DUCKDB_INIT."""
    text = init_sql if init_sql is not None else os.environ.get(INIT_SQL_ENV)
    if text and not is_url(text) and len(text) < 4096 and Path(text).expanduser().is_file():
        text = Path(text).expanduser().read_text()
    return text or None


def _httpfs_loads(con: duckdb.DuckDBPyConnection) -> bool:
    """True when DuckDB's httpfs extension is installed (it cannot be downloaded offline)."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as e:
        log.debug("httpfs unavailable (%s): reading URLs through fsspec", e)
        return False
    return True


def register_fsspec(con: duckdb.DuckDBPyConnection, paths: Sequence[str], force: bool | None = None) -> None:
    """Let DuckDB read the URL schemes of `paths` through fsspec: schemes httpfs does not know always,
    every scheme when `force` (default: $MMCORPUS_FSSPEC is set)."""
    if force is None:
        force = os.environ.get(FSSPEC_ENV, "") not in ("", "0")
    schemes = {str(p).split("://", 1)[0] for p in paths if is_url(p)}
    for scheme in sorted(schemes):
        if force or scheme not in HTTPFS_SCHEMES or not _httpfs_loads(con):
            import fsspec

            try:
                fs = fsspec.filesystem(scheme)
            except (ImportError, ValueError) as e:
                raise UserError(f"cannot read {scheme}:// through fsspec ({e}); install its fsspec package "
                                 f"(s3fs, gcsfs, adlfs) or let DuckDB's httpfs read it (drop --fsspec)") from e
            if not con.filesystem_is_registered(fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]):
                con.register_filesystem(fs)


def connect(database: str = ":memory:", *, read_only: bool = False, init_sql: str | None = None,
            urls: Sequence[str] = (), use_fsspec: bool | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the user's init SQL (extensions, secrets) applied and, for `urls` whose
    scheme needs it, fsspec filesystems registered."""
    con = duckdb.connect(database, read_only=read_only)
    text = init_sql_text(init_sql)
    if text:
        con.execute(text)
    register_fsspec(con, urls, use_fsspec)
    return con
