"""Same inputs and seed give byte-identical shards, stats and error tables: every build of the demo corpus
and of the shared fixtures matches the digests the code wrote before the last refactor
(`tests/golden/build_digests.json`; `python -m tests.build_identity` lists what differs)."""
from __future__ import annotations

import json

from tests.build_identity import DEMO, FIXTURE, GOLDEN, ROOT, build_all, differences, library_versions

GOLDEN_DATA = json.loads(GOLDEN.read_text())


def _check(digests: dict[str, dict[str, str]]) -> None:
    versions = library_versions()
    changed = {k: (GOLDEN_DATA["libraries"].get(k), v) for k, v in versions.items()
               if GOLDEN_DATA["libraries"].get(k) != v}
    for name, files in digests.items():
        diff = differences(GOLDEN_DATA["corpora"][name], files)
        hint = (f"; these encoders changed version since the golden file was written: {changed}" if changed
                else "; if the change is intended, regenerate with `python -m tests.build_identity --update`")
        assert not diff, f"{name} is not byte-identical to the golden build: {diff[:10]}{hint}"


def test_demo_corpora_are_byte_identical(ray_session):
    digests = build_all(DEMO)
    assert all(any(k.startswith("shards/") for k in files) for files in digests.values())
    _check(digests)


def test_fixture_corpora_are_byte_identical(ray_session, shared_fixtures):
    digests = build_all(FIXTURE)
    assert all(any(k.startswith("shards/") for k in files) for files in digests.values())
    _check(digests)


def test_corpora_built_from_shards_cut_into_pieces_are_byte_identical(ray_session, monkeypatch):
    """Every shard's units of work (inputs, or a PDF's page ranges) fan out to one piece task each (as when
    shards are fewer than CPUs): the tars, stats, errors and manifest are those of the golden builds, and
    the operator figures add up."""
    import pipelines.build_executor

    monkeypatch.setattr(pipelines.build_executor, "pieces_per_shard", lambda shards, slots: 64)  # every unit
    digests = build_all(DEMO)
    _check(digests)
    stages = json.loads((ROOT / "demo-docs" / "manifest.json").read_text())["runs"][-1]["stages"]
    counts = json.loads((ROOT / "demo-docs" / "manifest.json").read_text())["runs"][-1]["counts"]
    assert stages[0]["operator"] == "SplitDocuments" and stages[0]["rows_in"] == counts["inputs"]
    assert stages[-1]["operator"] == "DocSamples" and stages[-1]["rows_out"] == counts["samples"]
