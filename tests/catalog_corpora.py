"""The test corpora of the stats tests (`test_catalog.py`, `test_show.py`, `test_report.py`): two small corpora
(an image one and a video one, with quarantined, filtered and duplicate inputs) built once per test session
through the real `run_build` + Ray Data + shard sink, and a copy of one in fsspec's memory filesystem."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from corpus.inputs import InputItem
from corpus.video_member import mux_frames
from operators.base import Operator, Reject
from pipelines.engine.run import run_build
from pipelines.engine.run_config import RunConfig
from pipelines.engine.steps import Step
from schemas.record import SampleRecord, Turn, sample_key
from schemas.tables import DUPLICATE, FILTERED, SINK_SCHEMA

TASKS = ("ocr", "reconstruct", "infer_masked", "transcribe_page")
NOISE = {"ocr": "light", "reconstruct": "medium", "infer_masked": "masked", "transcribe_page": "none"}


def jpeg(width: int, height: int, seed: int) -> bytes:
    """Real JPEG bytes of random content (sizes vary, so offsets are not multiples of anything)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=70)
    return buf.getvalue()


class FakeSamples(Operator):
    """Inputs to samples: `meta.fail` quarantines, `meta.reject` filters or drops as duplicate."""

    stage = "fake_samples"
    output_schema = SINK_SCHEMA

    def __init__(self, config: object = None) -> None:
        super().__init__()

    def process(self, row: dict):
        meta = json.loads(row["meta_json"])
        if meta.get("fail"):
            raise ValueError(f"corrupt input {row['input_id']}")
        if meta.get("reject") == DUPLICATE:
            raise Reject(f"near-duplicate of {meta['of']}", DUPLICATE, error_type="near_duplicate")
        if meta.get("reject"):
            raise Reject("too little text", FILTERED, error_type="min_text")
        n = int(row["input_id"].rsplit("-", 1)[-1])
        for variant in range(meta.get("variants", 1)):
            task = TASKS[(n + variant) % len(TASKS)]
            key = sample_key(row["source"], n, variant)
            w, h = 24 + 8 * ((n + variant) % 5), 16 + 8 * (n % 3)
            text = "lorem ipsum " * (1 + 7 * n + variant)
            rec = SampleRecord(key=key, task=task, source=row["source"], input_id=row["input_id"],
                               conversations=[Turn("user", "<image>\nRead the text."), Turn("assistant", text)],
                               width=w, height=h, noise_level=NOISE[task])
            out = dict(key=key, task=task, noise_level=NOISE[task], width=w, height=h, text_len=len(text),
                       language="en", n_regions=1 + n % 4)
            if meta.get("video"):
                frames = 2 + n % 3
                jpegs = [jpeg(w, h, n * 10 + i) for i in range(frames)]
                out["members"] = [{"ext": "mp4", "data": mux_frames(jpegs, [0.5 * i for i in range(frames)])}]
                out.update(n_frames=frames, duration=0.5 * frames, task="video_caption", noise_level="none")
            else:
                out["members"] = [{"ext": "jpg", "data": jpeg(w, h, n * 10 + variant)}]
            out["members"].append({"ext": "json", "data": rec.to_json()})
            yield out


def corpus_inputs(kind: str, n: int) -> list[InputItem]:
    """`n` inputs; every 7th fails, every 5th is filtered, every 9th is a duplicate."""
    items = []
    for i in range(n):
        meta: dict = {"variants": 1 + i % 2, "video": kind == "videos"}
        if i % 7 == 3:
            meta["fail"] = True
        elif i % 5 == 4:
            meta["reject"] = FILTERED
        elif i % 9 == 8:
            meta.update(reject=DUPLICATE, of=f"{kind}-{i - 1:04d}")
        items.append(InputItem(input_id=f"{kind}-{i:04d}", source=f"src/{kind}/{i}.bin", kind=kind, meta=meta))
    return items


def build_test_corpora(base: Path) -> dict[str, Path]:
    """The two test corpora under `base`, built once (a later call finds their manifests and reuses them)."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import tests/
    out = {}
    for kind, n in (("images", 20), ("videos", 9)):
        d = base / f"corpus-{kind}"
        if not (d / "manifest.json").exists():
            summary = run_build(pipeline=kind, inputs=corpus_inputs(kind, n), steps=[Step(FakeSamples)],
                                out_dir=d, run=RunConfig(num_cpus=2, progress=False, inputs_per_shard=6))
            assert summary.ok, summary.lost_inputs
        out[kind] = d
    return out


@pytest.fixture(scope="module")
def corpora(ray_session, tmp_path_factory) -> dict[str, Path]:
    """{"images": DIR, "videos": DIR}, shared by every test module of the session."""
    return build_test_corpora(tmp_path_factory.getbasetemp() / "mmcorpus-test-corpora")


def to_memory_fs(src: Path, name: str) -> str:
    """Copy a corpus folder into fsspec's in-process memory filesystem; returns its memory:// URL."""
    import fsspec

    fs = fsspec.filesystem("memory")
    for p in src.rglob("*"):
        if p.is_file() and p.suffix != ".duckdb":
            fs.pipe(f"/{name}/{p.relative_to(src)}", p.read_bytes())
    return f"memory://{name}"
