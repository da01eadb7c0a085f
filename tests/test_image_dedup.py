"""Image deduplication: signatures, the keep rule over the shared decision steps (against brute force), and
images builds where exact and resized/re-encoded copies are dropped naming the kept image, a rebuild reuses
the signature files and `dedup.against` drops what another corpus holds."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from operators.dedup.buckets import Banding, bucket_edges
from operators.dedup.verify import HAMMING, verify_edges
from operators.images.dedup import DedupConfig, DropDuplicates, DropDuplicatesConfig, Duplicate, resolve_first_kept
from operators.images.ops import fingerprint
from operators.images.signature import ImageSignatures
from schemas.tables import DUPLICATE, IMAGE_SIGNATURE_SCHEMA


def smooth_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)


def jpeg(img: Image.Image, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def row(input_id: str, source: Path, meta: dict | None = None) -> dict:
    return {"input_id": input_id, "source": str(source), "shard_id": 0, "seq": 0, "kind": "image",
            "meta_json": json.dumps({"caption": "a photo"} if meta is None else meta)}


def _read(file: Path, columns: list[str]) -> pa.Table:
    return pq.read_table(file, columns=columns)


def decide_here(files: list[Path], cfg: DedupConfig, own_from: int = 0, parts: int = 3) -> dict[str, Duplicate]:
    """The steps of `pipelines.dedup.images.image_dedup`'s decision, without Ray."""
    banding = Banding(cfg.exact, cfg.max_hamming + 1 if cfg.near else 0, "phash", cfg.max_hamming)
    edges = np.unique(np.concatenate([bucket_edges(_read, files, banding, p, parts) for p in range(parts)]), axis=0)
    edges = edges[(edges[:, 0] >> 32) >= own_from]
    links = [e for f in np.unique(edges[:, 0] >> 32)
             for e in verify_edges(_read, files, int(f), edges[(edges[:, 0] >> 32) == f], HAMMING)]
    return resolve_first_kept(links, cfg, own_from)


def _write(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=IMAGE_SIGNATURE_SCHEMA), path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """a; b: a resized to half and re-encoded at quality 70; c: the bytes of a; d: another picture; then a
    copy of d without text and a tiny one (neither could be kept: no signature)."""
    d = tmp_path_factory.mktemp("photos")
    base = smooth_image(5)
    for name, data in {"a.jpg": jpeg(base), "b_resized.jpg": jpeg(base.resize((320, 240)), 70),
                       "c_copy.jpg": jpeg(base), "d_other.jpg": jpeg(smooth_image(6)),
                       "e_tiny.jpg": jpeg(base.resize((16, 12)))}.items():
        (d / name).write_bytes(data)
        (d / name).with_suffix(".txt").write_text(f"caption of {name}")
    (d / "f_notext.jpg").write_bytes(jpeg(smooth_image(6)))
    return d


def test_signatures_are_the_fingerprint_of_images_that_could_be_kept(photos: Path) -> None:
    rows = [row(p.stem, p, None if p.stem != "f_notext" else {}) for p in sorted(photos.glob("*.jpg"))]
    out = [r for r in ImageSignatures().run_rows(rows) if r.get("error_type") is None]
    assert [r["input_id"] for r in out] == ["a", "b_resized", "c_copy", "d_other"]
    data = (photos / "a.jpg").read_bytes()
    sha, ph, _, _ = fingerprint(data, 10**8)
    assert (out[0]["exact"], out[0]["phash"]) == (int(hashlib.sha256(data).hexdigest()[:16], 16), ph) and sha
    assert out[0]["exact"] == out[2]["exact"] and out[0]["exact"] != out[1]["exact"]


def test_exact_and_near_copies_keep_the_first(photos: Path, tmp_path: Path) -> None:
    rows = [row(p.stem, p) for p in sorted(photos.glob("*.jpg"))][:4]
    sigs = list(ImageSignatures().run_rows(rows))
    files = [_write(tmp_path / "s0.parquet", sigs[:2]), _write(tmp_path / "s1.parquet", sigs[2:])]
    decision = decide_here(files, DedupConfig())
    assert set(decision) == {"b_resized", "c_copy"}
    assert decision["c_copy"].reason == "exact duplicate of a (sha256)"
    assert decision["b_resized"].kept_id == "a" and decision["b_resized"].reason.startswith("near-duplicate of a (hamming ")
    dropped = DropDuplicates(DropDuplicatesConfig.from_decision(decision))(rows).to_pylist()
    assert {r["input_id"]: (r["error_category"], r["error_type"]) for r in dropped} == {
        "a": (None, None), "b_resized": (DUPLICATE, "near_duplicate"), "c_copy": (DUPLICATE, "exact_duplicate"),
        "d_other": (None, None)}
    assert set(decide_here(files, DedupConfig(exact=False))) == {"b_resized", "c_copy"}  # c: near, distance 0
    assert set(decide_here(files, DedupConfig(near=False))) == {"c_copy"}
    assert decide_here(files, DedupConfig(), own_from=1) == {"c_copy": decision["c_copy"]}  # a: another corpus's


def test_keep_rule_matches_brute_force_over_many_files(tmp_path: Path) -> None:
    """Every pair within the distance is found through the pHash slices (pigeonhole), and an image is dropped
    only for a kept one: the closest, the earliest on ties; a dropped image keeps nothing."""
    rng = random.Random(1)
    base = [rng.getrandbits(64) for _ in range(60)]
    hashes = []
    for b in base:
        for _ in range(4):
            flips = rng.sample(range(64), rng.choice([0, 1, 3, 5, 6, 9])) if rng.random() < 0.7 else []
            hashes.append(b ^ sum(1 << i for i in flips) if flips else rng.getrandbits(64))
    sigs = [{"input_id": f"{i:04d}", "exact": i // 8 if i % 8 == 7 else 10**6 + i, "phash": h}
            for i, h in enumerate(hashes)]
    for s in sigs:
        if s["exact"] < 10**6:  # every 8th image is byte-identical to the one before it
            s["phash"] = sigs[int(s["input_id"]) - 1]["phash"]
            sigs[int(s["input_id"]) - 1]["exact"] = s["exact"]
    files = [_write(tmp_path / f"s{k}.parquet", sigs[k:k + 50]) for k in range(0, len(sigs), 50)]
    cfg = DedupConfig(max_hamming=5)
    got = decide_here(files, cfg, parts=4)
    kept: list[dict] = []
    for s in sigs:
        exact = [k for k in kept if k["exact"] == s["exact"]]
        near = sorted(((s["phash"] ^ k["phash"]).bit_count(), k["input_id"]) for k in kept)
        near = [n for n in near if n[0] <= cfg.max_hamming]
        if exact:
            assert got[s["input_id"]] == Duplicate(s["input_id"], exact[0]["input_id"], "exact", 0)
        elif near:
            assert got[s["input_id"]] == Duplicate(s["input_id"], near[0][1], "near", near[0][0])
        else:
            assert s["input_id"] not in got
            kept.append(s)
    assert len(got) > 40 and any(d.kind == "exact" for d in got.values())


def _cfg(**dedup):
    from pipelines.engine.run_config import RunConfig
    from pipelines.images import ImagesConfig

    cfg = ImagesConfig(run=RunConfig(inputs_per_shard=2, num_cpus=2, progress=False))
    cfg.dedup = replace(cfg.dedup, **dedup)
    return cfg


def _errors(out: Path) -> dict[str, tuple[str, str]]:
    rows = pa.concat_tables([pq.read_table(p) for p in sorted((out / "errors").glob("*.parquet"))]).to_pylist()
    return {r["input_id"]: (r["error_type"], r["message"]) for r in rows}


def test_images_build_drops_copies_and_a_rebuild_reuses_signatures(
        ray_session, photos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from pipelines.dedup.images import DUPLICATES, SIGNATURES
    from pipelines.images import build_images

    out = tmp_path / "corpus"
    first = build_images([str(photos)], out, _cfg())
    errors = _errors(out)
    name = photos.name
    assert first.ok and first.samples + len(errors) == first.inputs == 6 and first.samples == 2
    assert errors[f"{name}/c_copy.jpg"] == ("exact_duplicate", f"exact duplicate of {name}/a.jpg (sha256)")
    near = errors[f"{name}/b_resized.jpg"]
    assert near[0] == "near_duplicate" and near[1].startswith(f"near-duplicate of {name}/a.jpg (hamming ")
    assert (errors[f"{name}/e_tiny.jpg"][0], errors[f"{name}/f_notext.jpg"][0]) == ("image_filter", "no_text")
    assert len(pq.read_table(out / DUPLICATES)) == 2
    signed = {p.name: p.stat().st_mtime_ns for p in (out / SIGNATURES).iterdir()}
    assert len(signed) == 3  # one file per shard of the plan

    def rebuild(cfg):  # the first shard lost: one shard left to build, so the dedup pass runs again
        (out / "stats" / "images-000000.parquet").unlink()
        return build_images([str(photos)], out, cfg)

    with caplog.at_level(logging.INFO, logger="pipelines.dedup.signatures"):
        complete = build_images([str(photos)], out, _cfg())  # nothing left to build: no pass at all
        again = rebuild(_cfg())
        rebuild(_cfg(max_hamming=6))  # the decision's knobs: the same signatures
    assert complete.inputs_skipped == 6 and again.inputs_skipped == 4
    assert {p.name: p.stat().st_mtime_ns for p in (out / SIGNATURES).iterdir()} == signed
    assert caplog.text.count("signatures of 0 shards written (0 rows), 3 reused") == 2
    caplog.clear()
    tiny = _cfg()
    tiny.filter.min_side = 8  # which images could be kept changes: signed again, the tiny one too
    with caplog.at_level(logging.INFO, logger="pipelines.dedup.signatures"):
        rebuild(tiny)
    assert "signatures of 3 shards written (5 rows), 0 reused" in caplog.text


def test_dedup_against_another_images_corpus(ray_session, photos: Path, tmp_path: Path) -> None:
    from pipelines.dedup.images import SIGNATURES
    from pipelines.images import build_images

    build_images([str(photos)], tmp_path / "eval", _cfg())
    (tmp_path / "new.jpg").write_bytes(jpeg(smooth_image(5).resize((480, 360)), 80))
    (tmp_path / "new.txt").write_text("another copy")
    (tmp_path / "other.jpg").write_bytes(jpeg(smooth_image(9)))
    (tmp_path / "other.txt").write_text("a picture the eval set lacks")
    built = build_images([str(tmp_path / "new.jpg"), str(tmp_path / "other.jpg")], tmp_path / "out",
                         _cfg(against=(str(tmp_path / "eval"),)))
    assert built.samples == 1 and _errors(tmp_path / "out")["new.jpg"][1].startswith(f"near-duplicate of {photos.name}/")
    # one shard for 2 CPUs: signed by two piece tasks, joined in input order by one task
    signed = pq.read_table(tmp_path / "out" / SIGNATURES / "images-000000.parquet").to_pylist()
    assert [(r["input_id"], r["phash"]) for r in signed] == [
        (n, fingerprint((tmp_path / n).read_bytes(), 10**8)[1]) for n in ("new.jpg", "other.jpg")]
