"""Per-operator figures (no Ray): what each operator of a chain did to one shard, summed over shards in
pipeline order, as a build records them in the manifest's run entry."""
from __future__ import annotations

import json

import pyarrow as pa

from corpus.manifest import corpus_stages, stage_list
from operators.base import Chain, Operator, Reject, error_row
from pipelines.engine.operator_stats import add_stages, merge_stages, operators_of, shard_stages

SCHEMA = pa.schema([("input_id", pa.string()), ("n", pa.int64())])


class _Op(Operator):
    output_schema = SCHEMA

    def __init__(self, config: object = None) -> None:
        super().__init__()


class Pages(_Op):
    """Two rows per input; quarantines inputs whose id starts with 'bad'."""

    stage = "pages"

    def process(self, row):
        if row["input_id"].startswith("bad"):
            raise OSError("unreadable")
        yield {**row, "n": 0}
        yield {**row, "n": 1}
        if row["input_id"] == "e":  # a third page that fails part-way: an error row of its own
            yield error_row(row, self.stage, "Timeout", "page 2: too slow")


class KeepEven(_Op):
    """Rejects odd pages."""

    stage = "even"

    def process(self, row):
        if row["n"] % 2:
            raise Reject("odd page", error_type="odd")
        yield row


def _rows(ids):
    return [{"input_id": i, "source": i, "shard_id": 0, "seq": k} for k, i in enumerate(ids)]


def test_a_shard_reports_rows_in_out_and_rejections_per_operator():
    chain = Chain([(Pages, None), (KeepEven, None)])
    ops = operators_of(chain)
    list(chain.run_rows(_rows(["a", "b"])))  # an earlier shard of the same worker process
    before = [o.tally() for o in ops]
    out = list(chain.run_rows(_rows(["c", "bad-d", "e"])))
    assert len(out) == 2 + 2 + 1 + 1  # two kept pages, two rejected, one quarantined input, one failed page
    shard = json.loads(shard_stages(ops, before))
    assert list(shard) == ["Pages", "KeepEven"]
    assert shard["Pages"][:2] == [3, 4] and shard["Pages"][3] == {"quarantine:OSError": 1, "quarantine:Timeout": 1}
    assert shard["KeepEven"][:2] == [4, 2] and shard["KeepEven"][3] == {"filtered:odd": 2}  # error row passes uncounted
    assert all(v[2] >= 0 for v in shard.values())


def test_shards_sum_in_pipeline_order():
    total: dict = {}
    add_stages(total, json.dumps({"Pages": [3, 4, 0.5, {"quarantine:OSError": 1}],
                                  "KeepEven": [4, 2, 0.25, {"filtered:odd": 2}]}))
    add_stages(total, json.dumps({"Pages": [2, 4, 0.25, {}], "KeepEven": [4, 2, 0.5, {"filtered:odd": 2}]}))
    rec = stage_list(total)
    assert [r["operator"] for r in rec] == ["Pages", "KeepEven"]
    assert rec[0] == {"operator": "Pages", "rows_in": 5, "rows_out": 8, "rejected": {"quarantine:OSError": 1},
                      "seconds": 0.75}
    assert rec[1]["rejected"] == {"filtered:odd": 4} and rec[1]["rows_out"] == 4
    # a resumed build's runs add up to the corpus; a run from before stages were recorded adds nothing
    corpus = corpus_stages([{"stages": rec}, {"counts": {}}, {"stages": rec[:1]}])
    assert corpus[0]["rows_in"] == 10 and corpus[0]["seconds"] == 1.5 and corpus[1] == rec[1]


def test_one_operator_class_twice_keeps_both():
    chain = Chain([(KeepEven, None), (KeepEven, None)])
    ops = operators_of(chain)
    before = [o.tally() for o in ops]
    list(chain.run_rows([{**r, "n": 0} for r in _rows(["a"])]))
    assert list(json.loads(shard_stages(ops, before))) == ["KeepEven", "KeepEven#2"]


def test_a_shard_run_in_pieces_reports_what_it_reports_whole():
    chain = Chain([(Pages, None), (KeepEven, None)])
    ops = operators_of(chain)

    def figures(rows):
        before = [o.tally() for o in ops]
        list(chain.run_rows(rows))
        return shard_stages(ops, before)

    rows = _rows(["c", "bad-d", "e"])
    whole = json.loads(figures(rows))
    pieces = json.loads(merge_stages([figures(rows[:1]), figures(rows[1:])]))
    assert list(pieces) == list(whole)
    for name in whole:
        assert pieces[name][:2] == whole[name][:2] and pieces[name][3] == whole[name][3]
