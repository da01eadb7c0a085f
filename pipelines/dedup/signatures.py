"""Dedup signature files beside the shards, shared by pages and images: `DIR/dedup/<kind>/<shard>.parquet`.

Contract:
- `signature_pass`: one Ray task per shard of the build's plan (the same shards, `pipelines.engine.plan`)
  turns the shard's input rows into signature rows (`sign_rows`, the kind's operator) and writes the
  shard's file, rows in input order. A file is reused (resume, rebuild) when its footer records the same
  `knobs` (what makes signatures comparable) and the same `made_for` digest (the shard's inputs, their
  sources and meta, and what else the kind's rows depend on); else it is written again. When shards to
  sign are fewer than the CPUs, a shard's inputs are cut into piece tasks whose rows one task per shard
  joins and writes (so a one-shard build still uses every CPU; the same file either way); the driver
  passes the pieces' object refs and never receives signature rows.
- `against_files`: another corpus's files of the same kind (`--dedup-against`), counted before this corpus's.
- `read_signatures` / `file_facts`: the columns of one file; its (rows, knobs, made_for) from the footer.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.sink import parquet_bytes, shard_name
from corpus.storage import Store
from pipelines.engine.plan import plan_shards

log = logging.getLogger(__name__)

KNOBS = "mmcorpus.signature"  # schema metadata: what makes the file's signatures comparable
MADE_FOR = "mmcorpus.made_for"  # schema metadata: digest of the inputs (and settings) the file was made from
SignatureFile = tuple[Store, str]  # (corpus store, path below it)
SignRows = Callable[[list[dict]], list[dict]]  # input rows -> signature rows (picklable: a module function)


def read_signatures(file: SignatureFile, columns: list[str]) -> pa.Table:
    """`columns` of one signature file (only those columns are read from a local file)."""
    store, rel = file
    if store.local:
        return pq.read_table(store.path(rel), columns=columns)
    return pq.read_table(pa.BufferReader(store.read(rel)), columns=columns)


def write_signatures(store: Store, rel: str, rows: list[dict], schema: pa.Schema, knobs: str,
                     made_for: str = "") -> int:
    """Write signature rows (of `schema`) as the file `rel`, its footer naming `knobs` and `made_for`;
    returns their number."""
    schema = schema.with_metadata({KNOBS: knobs, MADE_FOR: made_for})
    table = pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema)
    store.put(rel, parquet_bytes(table))
    return table.num_rows


def file_facts(file: SignatureFile) -> tuple[int, str, str]:
    """(rows, knobs, made_for) of one signature file, from its footer."""
    store, rel = file
    meta = pq.ParquetFile(store.path(rel) if store.local else pa.BufferReader(store.read(rel))).metadata
    kv = meta.schema.to_arrow_schema().metadata or {}
    return meta.num_rows, kv.get(KNOBS.encode(), b"").decode(), kv.get(MADE_FOR.encode(), b"").decode()


def made_for(rows: list[dict], extra: str) -> str:
    """The digest a shard's file records: its inputs' ids, sources and meta, and `extra`."""
    h = hashlib.sha256(extra.encode())
    for r in rows:
        h.update(json.dumps([r["input_id"], r["source"], r.get("meta_json")]).encode())
    return h.hexdigest()[:32]


def sign_shard(store: Store, rel: str, rows: list[dict], sign_rows: SignRows, schema: pa.Schema, knobs: str,
               made: str) -> int:
    """A shard's task: the signature rows of its input rows, written as `rel`; returns their number."""
    return write_signatures(store, rel, sign_rows(rows), schema, knobs, made)


def _sign_piece(sign_rows: SignRows, rows: list[dict]) -> list[dict]:
    return sign_rows(rows)


def _write_pieces(store: Store, rel: str, schema: pa.Schema, knobs: str, made: str, *pieces: list[dict]) -> int:
    return write_signatures(store, rel, [r for p in pieces for r in p], schema, knobs, made)


def signature_pass(items: list[InputItem], store: Store, folder: str, prefix: str, inputs_per_shard: int,
                   sign_rows: SignRows, schema: pa.Schema, knobs: str, extra: str = "") -> list[SignatureFile]:
    """The signature file of every shard of the plan under `folder`, written where missing or stale
    (see the module docstring); in shard order."""
    import ray

    plan = plan_shards(items, inputs_per_shard, prefix)
    n_shards = math.ceil(len(plan.inputs) / inputs_per_shard)
    files = [(store, f"{folder}/{shard_name(prefix, sid)}.parquet") for sid in range(n_shards)]
    rows = [[it.row(sid, sid * inputs_per_shard + i)
             for i, it in enumerate(plan.inputs[sid * inputs_per_shard:(sid + 1) * inputs_per_shard])]
            for sid in range(n_shards)]
    made = [made_for(r, extra) for r in rows]
    have = set(store.names(folder))
    old = [sid for sid, f in enumerate(files) if f[1].rsplit("/", 1)[1] in have]
    facts = ray.get([ray.remote(file_facts).remote(files[sid]) for sid in old])  # footers, read by tasks
    reuse = {sid for sid, (_, k, m) in zip(old, facts) if (k, m) == (knobs, made[sid])}
    todo = [sid for sid in range(n_shards) if sid not in reuse]
    pieces = max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, len(todo)))
    shard, piece, join = ray.remote(sign_shard), ray.remote(_sign_piece), ray.remote(_write_pieces)
    refs = []
    for sid in todo:
        if pieces == 1:
            refs.append(shard.remote(store, files[sid][1], rows[sid], sign_rows, schema, knobs, made[sid]))
            continue
        size = math.ceil(len(rows[sid]) / pieces)
        parts = [piece.remote(sign_rows, rows[sid][i:i + size]) for i in range(0, len(rows[sid]), size)]
        refs.append(join.remote(store, files[sid][1], schema, knobs, made[sid], *parts))  # rows go task to task
    n = sum(ray.get(refs))
    log.info("%s: signatures of %d shards written (%d rows), %d reused", folder, len(todo), n, n_shards - len(todo))
    return files


def against_files(dirs: Sequence[str], folder: str, storage_options: dict) -> list[SignatureFile]:
    """The signature files under `folder` of other corpora (`--dedup-against`); UserError when one has none."""
    files: list[SignatureFile] = []
    for d in dirs:
        other = Store.of(d, storage_options)
        names = sorted(n for n in other.names(folder) if n.endswith(".parquet"))
        if not names:
            raise UserError(f"--dedup-against {d}: no signatures ({folder}/); build it with this version first")
        files += [(other, f"{folder}/{n}") for n in names]
    return files
