"""`show`: every sample's byte range in the stats table holds exactly its members, nothing else."""
from __future__ import annotations

import json
import tarfile

import pyarrow.parquet as pq
import pytest
from catalog_corpora import corpora  # noqa: F401 - the session's test corpora (module fixture)

from cli.main import main
from corpus.errors import UserError
from schemas.record import SampleRecord
from stats.show import IndexMismatch, fetch_sample, parse_members, read_range


def tar_members(tar_path) -> dict[str, bytes]:
    with tarfile.open(tar_path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}


@pytest.mark.parametrize("kind", ["images", "videos"])
def test_every_byte_range_is_exact(corpora, kind):  # noqa: F811
    d = corpora[kind]
    seen = set()
    for stats in sorted((d / "stats").glob("*.parquet")):
        rows = pq.read_table(stats).to_pylist()
        if not rows:
            continue
        tar = d / "shards" / rows[0]["shard"]
        truth = tar_members(tar)
        raw = tar.read_bytes()
        for r in rows:
            blob = read_range(str(tar), r["offset"], r["size"])
            assert blob == raw[r["offset"]:r["offset"] + r["size"]]
            members = parse_members(blob)
            assert [n for n, _ in members] == r["members"]
            assert all(truth[n] == data for n, data in members)
            seen.update(r["members"])
        # consecutive samples tile the tar: each range starts where the previous one ended
        ends = [r["offset"] + r["size"] for r in rows]
        assert [r["offset"] for r in rows] == [0] + ends[:-1]
        assert set(truth) <= seen
    total = sum(len(tar_members(t)) for t in (d / "shards").glob("*.tar"))
    assert len(seen) == total


def test_fetch_sample_by_key_and_prefix(corpora):  # noqa: F811
    d = corpora["videos"]
    row = pq.read_table(sorted((d / "stats").glob("*.parquet"))[0]).to_pylist()[0]
    s = fetch_sample(d, row["key"])
    assert list(s.members) == row["members"] and s.location.offset == row["offset"]
    rec = SampleRecord.from_json(s.members[f"{row['key']}.json"])
    assert rec.key == row["key"] and rec.input_id == row["input_id"]
    assert fetch_sample(d, row["key"][:12]).location == s.location
    with pytest.raises(UserError, match="no sample with key"):
        fetch_sample(d, "ffffffffffffffffffff-nope")


def test_a_wrong_index_fails_loudly(corpora):  # noqa: F811
    d = corpora["images"]
    rows = pq.read_table(sorted((d / "stats").glob("*.parquet"))[0]).to_pylist()
    tar = str(d / "shards" / rows[0]["shard"])
    r0, r1 = rows[0], rows[1]
    with pytest.raises(IndexMismatch, match="no valid tar header"):
        parse_members(read_range(tar, r0["offset"] + 512, r0["size"]))
    with pytest.raises(IndexMismatch):
        parse_members(read_range(tar, r0["offset"], r0["size"] + r1["size"] - 1))
    with pytest.raises(IndexMismatch, match="beyond the indexed size"):
        parse_members(read_range(tar, r0["offset"], r0["size"] - 512))
    with pytest.raises(IndexMismatch, match="holds"):
        read_range(tar, 10**9, 10)


def test_show_cli(corpora, tmp_path, capsys):  # noqa: F811
    d = corpora["images"]
    row = pq.read_table(sorted((d / "stats").glob("*.parquet"))[0]).to_pylist()[0]
    assert main(["show", str(d), row["key"]]) == 0
    out = capsys.readouterr().out
    assert row["key"] in out and "JPEG image" in out and '"conversations"' in out
    assert main(["show", str(d), row["key"], "--out", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(row["members"])
    capsys.readouterr()
    assert main(["show", str(d), row["key"], "--member", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["key"] == row["key"]


def test_show_describes_a_video_member(corpora, capsys):  # noqa: F811
    d = corpora["videos"]
    row = pq.read_table(sorted((d / "stats").glob("*.parquet"))[0]).to_pylist()[0]
    assert main(["show", str(d), row["key"]]) == 0
    out = capsys.readouterr().out
    assert f"video of {row['n_frames']} JPEG frames at 0.000-{0.5 * (row['n_frames'] - 1):.3f} s" in out
    assert f"JPEG image {row['width']}x{row['height']} px" in out


def test_show_from_a_url(corpora):  # noqa: F811
    from catalog_corpora import to_memory_fs

    url = to_memory_fs(corpora["videos"], "bucket-b/corpus-videos")
    row = pq.read_table(sorted((corpora["videos"] / "stats").glob("*.parquet"))[-1]).to_pylist()[-1]
    local = fetch_sample(corpora["videos"], row["key"])
    remote = fetch_sample(url, row["key"])
    assert remote.members == local.members and remote.location == local.location


def test_contact_sheet_shows_a_video_by_its_first_frame(corpora, tmp_path):  # noqa: F811
    from PIL import Image

    from stats.contact_sheet import contact_sheet

    out = contact_sheet(corpora["videos"], tmp_path / "sheet.png", per_level=2)
    assert Image.open(out).size[0] > 0
