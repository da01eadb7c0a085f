"""DuckDB's exceptions as the user errors they are: bad SQL, or a stats/errors file that cannot be read.

`user_errors()` wraps a block that runs DuckDB for a command: a `duckdb.Error` leaves it as a one-line
`UserError` that keeps DuckDB's own message (it names the column, the view or the damaged file) and says
what to do.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb

from corpus.errors import UserError

SQL_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException, duckdb.ConversionException,
              duckdb.ConstraintException, duckdb.NotImplementedException)
SQL_ADVICE = ("the views are samples, errors, shards, runs and corpora; "
              "`mmcorpus stats query --help` lists their columns")
FILE_ADVICE = ("a file of the corpus is damaged: delete that stats or errors file and rerun the build command "
               "into the same folder, which rebuilds its shard")


def one_line(text: str) -> str:
    """`text` with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(text.split())


@contextlib.contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Turn DuckDB errors raised inside the block into `UserError("{what}: {DuckDB's message}: advice")`."""
    try:
        yield
    except SQL_ERRORS as e:
        raise UserError(f"{what}: {one_line(str(e))}: {SQL_ADVICE}") from e
    except duckdb.Error as e:
        message = one_line(str(e)).split(" LINE ", 1)[0]  # the SQL excerpt is ours, not the user's: leave it out
        raise UserError(f"{what}: {message}: {FILE_ADVICE}") from e
