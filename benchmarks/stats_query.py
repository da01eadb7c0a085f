"""Catalog queries vs pandas on the same synthetic stats table, measured in the same run.

    .venv/bin/python benchmarks/stats_query.py [--rows 1000000] [--shards 100] [--repeat 5] [--dir DIR]

Writes a synthetic corpus folder (stats/, errors/, manifest.json; no tars) of `--rows` samples in
STATS_SCHEMA, builds its DuckDB catalog, then asks two typical questions both ways:

- group-by:         samples, mean text length and bytes per (task, noise level);
- filter-and-count: masked samples with more than 500 characters of text and images at least 448 px wide.

Catalog time = open the catalog file + run the query + fetch the result (DuckDB reads the Parquet files
on every query: nothing is cached between repeats except by the OS). pandas time = `pd.read_parquet` of
the stats folder + the same computation; measured twice: loading the table (every column, what a
notebook usually does; the issue's target is measured against this) and loading only the columns the
question needs (the strictest baseline, printed for honesty). Each figure is the median of `--repeat`
runs. Prints the times and the ratios pandas / catalog; target: catalog < 1 s and >= 5x pandas.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus.sink import shard_name  # noqa: E402
from schemas.tables import ERROR_SCHEMA, STATS_SCHEMA  # noqa: E402
from stats.catalog import build_catalog, open_catalog  # noqa: E402

log = logging.getLogger("stats_query")

TASKS = np.array(["ocr", "reconstruct", "infer_masked", "transcribe_page", "caption", "video_caption"])
TASK_P = [0.25, 0.2, 0.15, 0.15, 0.15, 0.10]
NOISE = {"ocr": "light", "reconstruct": "medium", "infer_masked": "masked", "transcribe_page": "none",
         "caption": "none", "video_caption": "none"}

GROUP_SQL = ("SELECT task, noise_level, count(*) AS n, avg(text_len) AS mean_text_len, sum(size) AS bytes "
             "FROM samples GROUP BY task, noise_level")
FILTER_SQL = "SELECT count(*) FROM samples WHERE noise_level = 'masked' AND text_len > 500 AND width >= 448"


def synthetic_shard(rng: np.random.Generator, prefix: str, shard_id: int, n: int) -> tuple[pa.Table, pa.Table]:
    """One shard's stats table of `n` plausible samples, and its error table (~5% of n)."""
    task = rng.choice(TASKS, size=n, p=TASK_P)
    noise = np.vectorize(NOISE.get)(task)
    video = task == "video_caption"
    keys = [f"{k:020x}" for k in rng.integers(0, 2**62, size=n, dtype=np.int64) * 4 + shard_id % 4]
    size = rng.integers(20_000, 400_000, size=n)
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    name = shard_name(prefix, shard_id)
    width = rng.choice([224, 336, 448, 640, 896, 1024, 1344], size=n).astype(np.int32)
    n_frames = np.where(video, rng.integers(8, 180, size=n), 0).astype(np.int32)
    cols = {
        "key": keys, "shard": [f"{name}.tar"] * n, "offset": offset, "size": size,
        "members": [[f"{k}.jpg", f"{k}.json"] for k in keys],
        "input_id": [f"in-{shard_id}-{i // 3}" for i in range(n)], "source": [f"s3://raw/{shard_id}/{i // 3}.pdf" for i in range(n)],
        "task": task, "noise_level": noise, "noise_family": np.where(noise == "none", None, "blur"),
        "noise_strength": rng.random(n).astype(np.float32), "n_regions": rng.integers(1, 40, size=n).astype(np.int32),
        "width": width, "height": (width * rng.uniform(0.5, 1.6, size=n)).astype(np.int32),
        "n_frames": np.where(video, n_frames, None), "duration": np.where(video, n_frames / 2.0, None),
        "text_len": rng.lognormal(5.5, 1.0, size=n).astype(np.int32), "language": rng.choice(["en", "zh", "de"], size=n),
        "page_index": rng.integers(0, 300, size=n).astype(np.int32),
        "text_path": np.where(video, None, rng.choice(["text_layer", "ocr", "mixed"], size=n, p=[0.8, 0.15, 0.05])),
        "pipeline": ["docs"] * n, "run_id": ["bench"] * n,
        "schema_version": np.ones(n, dtype=np.int32),
    }
    stats = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in STATS_SCHEMA}, schema=STATS_SCHEMA)
    m = max(1, n // 20)
    cat = rng.choice(["quarantine", "filtered", "duplicate"], size=m, p=[0.3, 0.5, 0.2])
    errors = pa.Table.from_pylist([
        {"input_id": f"err-{shard_id}-{i}", "source": f"s3://raw/{shard_id}/e{i}.pdf", "shard": f"{name}.tar",
         "stage": {"quarantine": "pdf_pages", "filtered": "region_filter", "duplicate": "dedup"}[c],
         "error_type": {"quarantine": "FileDataError", "filtered": "min_text", "duplicate": "near_duplicate"}[c],
         "message": f"{c} example", "category": c, "pipeline": "docs", "run_id": "bench", "schema_version": 1}
        for i, c in enumerate(cat)], schema=ERROR_SCHEMA)
    return stats, errors


def write_corpus(out: Path, rows: int, shards: int, seed: int = 0) -> Path:
    """A corpus folder with `rows` samples over `shards` stats files, plus errors and a manifest."""
    rng = np.random.default_rng(seed)
    for sub in ("stats", "errors", "shards"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    per = -(-rows // shards)
    manifest = {"pipeline": "docs", "prefix": "docs", "assignment": "synthetic", "inputs_per_shard": per,
                "n_inputs": 0, "shards": {}, "runs": [], "schema_version": 1}
    for sid in range(shards):
        n = min(per, rows - sid * per)
        if n <= 0:
            break
        stats, errors = synthetic_shard(rng, "docs", sid, n)
        name = shard_name("docs", sid)
        pq.write_table(stats, out / "stats" / f"{name}.parquet")
        pq.write_table(errors, out / "errors" / f"{name}.parquet")
        manifest["shards"][name] = {"shard_id": sid, "tar": f"{name}.tar", "samples": n, "errors": errors.num_rows,
                                    "bytes": int(pc_sum(stats["size"])) + 1024, "inputs": n // 3 + errors.num_rows}
        manifest["n_inputs"] += n // 3 + errors.num_rows
    manifest["runs"].append({"run_id": "bench", "started": time.time(), "seconds": 0.0, "run": {}, "config": {},
                             "counts": {"inputs": manifest["n_inputs"], "samples": rows}, "lost_inputs": []})
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def pc_sum(col: pa.ChunkedArray) -> int:
    import pyarrow.compute as pc

    return pc.sum(col).as_py()


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall time of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, help="where to write the synthetic corpus (default: a temp folder)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    tmp = tempfile.TemporaryDirectory(prefix="stats-bench-") if args.dir is None else None
    d = args.dir or Path(tmp.name)
    t = time.perf_counter()
    write_corpus(d, args.rows, args.shards)
    stats_dir = d / "stats"
    db, _ = build_catalog([d])
    log.info("synthetic corpus: %s rows in %d stats files (%.1f MB) written in %.1f s; catalog %s",
             f"{args.rows:,}", args.shards, sum(p.stat().st_size for p in stats_dir.iterdir()) / 1e6, time.perf_counter() - t, db)

    def catalog(sql: str) -> Callable[[], object]:
        def run() -> object:
            con = open_catalog(db)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()
        return run

    def pd_group(columns: list[str] | None) -> Callable[[], object]:
        def run() -> object:
            df = pd.read_parquet(stats_dir, columns=columns)
            return df.groupby(["task", "noise_level"]).agg(n=("key" if columns is None else "size", "size"),
                                                             mean_text_len=("text_len", "mean"), bytes=("size", "sum"))
        return run

    def pd_filter(columns: list[str] | None) -> Callable[[], object]:
        def run() -> object:
            df = pd.read_parquet(stats_dir, columns=columns)
            return int(((df["noise_level"] == "masked") & (df["text_len"] > 500) & (df["width"] >= 448)).sum())
        return run

    questions = [
        ("group-by", catalog(GROUP_SQL), pd_group(None), pd_group(["task", "noise_level", "text_len", "size"])),
        ("filter-and-count", catalog(FILTER_SQL), pd_filter(None), pd_filter(["noise_level", "text_len", "width"])),
    ]
    print(f"\n{args.rows:,} rows, {args.shards} stats files, median of {args.repeat} runs each (seconds)")
    print(f"{'question':<18} {'catalog':>8} {'pandas all cols':>16} {'ratio':>7} {'pandas needed cols':>19} {'ratio':>7}  check")
    ok = True
    for name, cat, pd_all, pd_cols in questions:
        t_cat, r_cat = timed(cat, args.repeat)
        t_all, r_all = timed(pd_all, args.repeat)
        t_cols, r_cols = timed(pd_cols, args.repeat)
        if name == "group-by":
            same = sorted((a, b, c) for a, b, c, *_ in r_cat) == sorted((a, b, int(r["n"])) for (a, b), r in r_cols.iterrows())
        else:
            same = r_cat[0][0] == r_all == r_cols
        ok &= same and t_cat < 1.0 and t_all / t_cat >= 5
        print(f"{name:<18} {t_cat:8.3f} {t_all:16.3f} {t_all / t_cat:6.1f}x {t_cols:19.3f} {t_cols / t_cat:6.1f}x  "
              f"{'same answer' if same else 'ANSWERS DIFFER'}")
    print("target (catalog < 1 s and >= 5x pandas loading the table, same answers):", "met" if ok else "NOT met")
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
