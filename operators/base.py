"""The operator base: a subclass writes one transform; the base turns failures into outcome rows.

An operator is a plain callable over a batch (a `pyarrow.Table`, a dict of columns or a list of row
dicts) that returns a `pyarrow.Table` in its `output_schema`. Ray Data hands it batches through
`map_batches`; tests call it directly. The contract the subclass keeps:

- `process(row) -> Iterable[dict]`: zero or more output rows for one input row. Output rows inherit
  the envelope columns of the input row (`input_id`, `source`, `shard_id`, `seq`) unless they set them.
- raising `Reject(reason, category)` drops the row on purpose (filtered, duplicate, or quarantined);
  any other exception quarantines the row with its type and message. Either way an error row takes its
  place, so every input stays accounted for.
- rows that already carry an error pass through untouched; a row for which `process` yields nothing
  becomes a `NoOutput` error row, so no input can vanish silently.
- the class declares its columns: `reads` (needed), `reads_if_present` (used when there), `writes`, and
  `keeps_input` (output rows carry the input row's columns too); `Chain` refuses an order that breaks them.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from corpus.errors import UserError
from schemas.tables import ENVELOPE_FIELDS, FILTERED, INPUT_SCHEMA, MAX_MESSAGE, QUARANTINE

log = logging.getLogger(__name__)

ENVELOPE = [f.name for f in ENVELOPE_FIELDS]

Row = dict[str, Any]
Batch = pa.Table | dict[str, list] | list[Row]


class Reject(Exception):
    """Raised by `process` to drop a row on purpose, with the reason written to the error table."""

    def __init__(self, reason: str, category: str = FILTERED, error_type: str = "rejected") -> None:
        super().__init__(reason)
        self.reason = reason
        self.category = category
        self.error_type = error_type


def to_rows(batch: Batch) -> list[Row]:
    """Any batch format Ray Data or a test may hand over, as a list of row dicts."""
    if isinstance(batch, pa.Table):
        return batch.to_pylist()
    if isinstance(batch, list):
        return batch
    if hasattr(batch, "to_dict") and hasattr(batch, "columns"):  # pandas
        return batch.to_dict("records")
    cols = {k: list(v) for k, v in batch.items()}
    n = len(next(iter(cols.values()))) if cols else 0
    return [{k: cols[k][i] for k in cols} for i in range(n)]


def error_row(row: Row, stage: str, error_type: str, message: str, category: str = QUARANTINE) -> Row:
    """The envelope of `row` marked with why it stops here."""
    out = {k: row.get(k) for k in ENVELOPE}
    out.update(
        error_stage=stage,
        error_type=error_type,
        error_message=(message or error_type)[:MAX_MESSAGE],
        error_category=category,
    )
    return out


def is_error(row: Row) -> bool:
    """True when the row is an outcome (quarantined, filtered or duplicate) rather than work."""
    return row.get("error_type") is not None


def conform(rows: list[Row], schema: pa.Schema) -> pa.Table:
    """Rows as a table of exactly `schema`: missing columns null, extra columns dropped."""
    names = schema.names
    return pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows], schema=schema)


class Operator:
    """One transform over rows; see the module docstring for the contract."""

    #: the stage name written in error rows
    stage: str = "operator"
    #: columns `process` needs in its input rows (envelope columns included where it uses them)
    reads: tuple[str, ...] = ()
    #: columns `process` uses when an input row has them and does without otherwise
    reads_if_present: tuple[str, ...] = ()
    #: columns of its output rows besides the envelope; with `keeps_input`, the ones it adds or changes
    writes: tuple[str, ...] = ()
    #: True when its output rows carry every column of the input row they come from
    keeps_input: bool = False
    #: True when its output rows are independent units of work (a document's page ranges): a shard's
    #: fan-out may cut between them (`pipelines.engine.pieces`)
    splits_work: bool = False
    #: the Arrow schema of the rows this operator returns
    output_schema: pa.Schema

    def __init__(self) -> None:
        #: rows seen: "in", "passed_errors" (error rows of earlier stages), "out", "CATEGORY:ERROR_TYPE"
        self.counts: Counter[str] = Counter()
        self.seconds = 0.0  # wall seconds inside `process`

    def tally(self) -> dict[str, Any]:
        """The counters as a stage's figures: rows_in (rows it worked on), rows_out, rejected
        {"CATEGORY:ERROR_TYPE": rows}, seconds inside `process`."""
        rejected = {k: n for k, n in sorted(self.counts.items()) if ":" in k}
        return {"rows_in": self.counts["in"] - self.counts["passed_errors"], "rows_out": self.counts["out"],
                "rejected": rejected, "seconds": self.seconds}

    def process(self, row: Row) -> Iterable[Row]:
        """Output rows for one input row; raise `Reject` to drop it with a reason."""
        raise NotImplementedError

    def run_rows(self, rows: Iterable[Row]) -> Iterator[Row]:
        """Apply the transform to rows lazily, replacing failures by error rows; keeps counts.

        Outputs stream as `process` yields them (a 2,000-page PDF is never held whole); when it fails
        part-way, the outputs already yielded stand and one error row stands for the rest.
        """
        for row in rows:
            self.counts["in"] += 1
            if is_error(row):
                self.counts["passed_errors"] += 1
                yield row
                continue
            produced = 0
            outputs = iter(self.process(row))
            while True:
                start = time.perf_counter()
                try:
                    out = next(outputs)
                except StopIteration:
                    break
                except Reject as r:
                    self.counts[f"{r.category}:{r.error_type}"] += 1
                    yield error_row(row, self.stage, r.error_type, r.reason, r.category)
                    produced += 1
                    break
                except Exception as e:  # noqa: BLE001 - every failure becomes a quarantine row
                    self.counts[f"quarantine:{type(e).__name__}"] += 1
                    log.debug("%s quarantined %s: %s", self.stage, row.get("input_id"), e)
                    yield error_row(row, self.stage, type(e).__name__, str(e))
                    produced += 1
                    break
                finally:
                    self.seconds += time.perf_counter() - start
                for k in ENVELOPE:
                    out.setdefault(k, row.get(k))
                # an error row `process` yields itself (a page that failed part-way) counts as a rejection
                self.counts[f"{out.get('error_category')}:{out['error_type']}" if is_error(out) else "out"] += 1
                produced += 1
                yield out
            if not produced:
                self.counts["filtered:NoOutput"] += 1
                yield error_row(row, self.stage, "NoOutput", f"{self.stage} produced nothing for this input", FILTERED)

    def __call__(self, batch: Batch) -> pa.Table:
        return conform(list(self.run_rows(to_rows(batch))), self.output_schema)


class Filter(Operator):
    """An operator that keeps or drops rows unchanged; a subclass writes only `keep`."""

    keeps_input = True

    def keep(self, row: Row) -> bool | tuple[bool, str]:
        """True to keep the row, or (False, reason) to drop it with a reason."""
        raise NotImplementedError

    def process(self, row: Row) -> Iterable[Row]:
        verdict = self.keep(row)
        ok, reason = verdict if isinstance(verdict, tuple) else (verdict, f"{self.stage} rejected")
        if not ok:
            raise Reject(reason, FILTERED, error_type=self.stage)
        yield row


def _columns_out(op: type[Operator], have: set[str]) -> set[str]:
    """The columns of the rows `op` returns from rows with the columns `have`."""
    return (have if op.keeps_input else set(ENVELOPE)) | set(op.writes)


def check_columns(ops: Sequence[type[Operator]], input_columns: Iterable[str] = INPUT_SCHEMA.names) -> None:
    """Refuse (UserError) an order of operators in which one reads a column that neither the input rows
    (`input_columns`) nor an earlier operator provides."""
    have = set(input_columns)
    for i, op in enumerate(ops):
        for col in op.reads:
            if col in have:
                continue
            where = f"the rows {ops[i - 1].__name__} returns lack" if i else "the input rows lack"
            later = [o.__name__ for o in ops[i + 1:] if col in o.writes]
            earlier = [o.__name__ for o in ops[:i] if col in o.writes]
            if later:
                advice = f"put {later[0]} before {op.__name__}"
            elif earlier:
                advice = f"{earlier[-1]} writes it but an operator after it drops it: reorder the chain"
            elif i:
                advice = f"put an operator that writes it before {op.__name__}"
            else:
                advice = f"add it to the input or put an operator that writes it before {op.__name__}"
            raise UserError(f"operator {op.__name__} reads column {col!r}, which {where}: {advice}")
        have = _columns_out(op, have)


def columns_after(ops: Sequence[type[Operator]], input_columns: Iterable[str] = INPUT_SCHEMA.names) -> list[str]:
    """The columns of the rows `ops` return, applied in order to rows with `input_columns`."""
    have = set(input_columns)
    for op in ops:
        have = _columns_out(op, have)
    return sorted(have)


class Chain:
    """Operators applied one after another to Python rows, converted to Arrow once at the end.

    Fusing operators this way avoids an Arrow round trip of every page's pixels between stages;
    `config` is a sequence of (operator class, operator config) pairs, checked with `check_columns`
    against `input_columns` (the input table's by default) before any operator is made.
    """

    def __init__(self, config: "Sequence[tuple[type[Operator], Any]]",
                 input_columns: Iterable[str] = INPUT_SCHEMA.names) -> None:
        check_columns([op for op, _ in config], input_columns)
        self.ops = [op(cfg) for op, cfg in config]
        self.output_schema = self.ops[-1].output_schema

    def run_rows(self, rows: Iterable[Row]) -> Iterator[Row]:
        """Rows through every operator in turn, lazily."""
        for op in self.ops:
            rows = op.run_rows(rows)
        return iter(rows)

    def __call__(self, batch: Batch) -> pa.Table:
        return conform(list(self.run_rows(to_rows(batch))), self.output_schema)
