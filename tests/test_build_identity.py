"""Same inputs and seed give byte-identical shards, stats and error tables: every build of the demo corpus
and of the shared fixtures matches the digests the code wrote before the last refactor
(`tests/golden/build_digests.json`; `python -m tests.build_identity` explains what differs). A failure
says why: inputs that differ on this machine (a generator to fix), or the first tar member the build
wrote otherwise."""
from __future__ import annotations

import json

from tests.build_identity import DEMO, FIXTURE, ROOT, CorpusDigests, build_all, changed_libraries, explain, load_golden

VERSIONS, GOLDEN = load_golden()


def _check(digests: dict[str, CorpusDigests]) -> None:
    changed = changed_libraries(VERSIONS)
    verdicts = [v for name, got in digests.items() if (v := explain(name, GOLDEN.get(name), got, changed))]
    assert not verdicts, "\n".join(verdicts)


def test_demo_corpora_are_byte_identical(ray_session):
    digests = build_all(DEMO)
    assert all(any(k.startswith("shards/") for k in d.files) for d in digests.values())
    _check(digests)


def test_fixture_corpora_are_byte_identical(ray_session, shared_fixtures):
    digests = build_all(FIXTURE)
    assert all(any(k.startswith("shards/") for k in d.files) for d in digests.values())
    _check(digests)


def test_corpora_built_from_shards_cut_into_pieces_are_byte_identical(ray_session, monkeypatch):
    """Every shard's units of work (inputs, or a PDF's page ranges) fan out to one piece task each (as when
    shards are fewer than CPUs): the tars, stats, errors and manifest are those of the golden builds, and
    the operator figures add up."""
    import pipelines.engine.execute

    monkeypatch.setattr(pipelines.engine.execute, "pieces_per_shard", lambda shards, slots: 64)  # every unit
    digests = build_all(DEMO)
    _check(digests)
    stages = json.loads((ROOT / "demo-docs" / "manifest.json").read_text())["runs"][-1]["stages"]
    counts = json.loads((ROOT / "demo-docs" / "manifest.json").read_text())["runs"][-1]["counts"]
    assert stages[0]["operator"] == "SplitDocuments" and stages[0]["rows_in"] == counts["inputs"]
    assert stages[-1]["operator"] == "DocSamples" and stages[-1]["rows_out"] == counts["samples"]


def _corpus(inputs: dict[str, str], members: list[str]) -> CorpusDigests:
    tar = "shards/videos-000000.tar"
    return CorpusDigests({tar: str(hash(tuple(members))), "stats/videos-000000.parquet": "s"}, {tar: members}, inputs)


def test_a_difference_in_the_inputs_is_blamed_on_the_generator_never_on_the_golden_file():
    golden = _corpus({"videos/a.mp4": "1", "videos/a.json": "2"}, ["aa  k1.000.jpg", "bb  k1.json"])
    got = _corpus({"videos/a.mp4": "9", "videos/a.json": "2"}, ["cc  k1.000.jpg", "bb  k1.json"])
    verdict = explain("demo-videos", golden, got, {})
    assert "the generated inputs differ on this machine: videos/a.mp4 (encoder: libx264 in PyAV" in verdict
    assert "--update" not in verdict and "regenerate" not in verdict


def test_with_the_golden_inputs_a_difference_names_the_first_differing_member_of_the_first_differing_tar():
    golden = _corpus({"videos/a.mp4": "1"}, ["aa  k1.000.jpg", "bb  k1.001.jpg", "cc  k1.json"])
    got = _corpus({"videos/a.mp4": "1"}, ["aa  k1.000.jpg", "b2  k1.001.jpg", "c2  k1.json"])
    verdict = explain("demo-videos", golden, got, {})
    assert "inputs are the golden ones" in verdict
    assert ("first differing tar shards/videos-000000.tar, first difference: member k1.001.jpg (number 2 of 3)"
            in verdict)
    assert explain("demo-videos", golden, golden, {}) is None
