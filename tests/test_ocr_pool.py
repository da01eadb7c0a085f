"""OCR on a pool of Ray actors (`ocr.pool`, `pipelines.ocr_pool`): the same corpus as OCR inside the shard
tasks, a CUDA pool refused up front where onnxruntime has no CUDA, and a failed actor call accounted."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from doc_pages import input_row

from corpus.config import load_config
from corpus.config_types import ConfigError
from corpus.manifest import Manifest
from operators.base import is_error
from operators.docs.ocr import OcrRegionsConfig
from operators.docs.ocr_engine import OcrEngineConfig
from operators.docs.ocr_pool_config import OcrPoolConfig
from operators.docs.pdf_pages import PdfPages
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.ocr_pool.operator import PooledOcr, PooledOcrRegions
from pipelines.ocr_pool.pool import start_pool, stop_pools

pytestmark = pytest.mark.usefixtures("ray_session")


def _cfg(*overrides: str) -> DocsConfig:
    return load_config(DocsConfig, overrides=["run.num_cpus=2", "run.inputs_per_shard=2", "run.progress=false",
                                              "pages.dpi=96", *overrides])


def _digests(out: Path) -> dict[str, str]:
    """sha256 of every shard tar, stats and errors table of a corpus."""
    files = [*(out / "shards").glob("*.tar"), *(out / "stats").glob("*.parquet"), *(out / "errors").glob("*.parquet")]
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> list[str]:
    """Two demo scans (OCR path) and a text-layer booklet (layer check: line crops read by OCR)."""
    files = generate_demo_corpus(tmp_path_factory.mktemp("demo"))
    return [str(p) for p in files if p.name in ("scan-01.png", "scan-02.png", "a5-booklet.pdf")]


def test_pool_build_is_the_same_bytes_as_ocr_in_the_tasks(scans, tmp_path):
    t0 = time.perf_counter()
    in_task = build_docs(scans, tmp_path / "in_task", _cfg())
    t1 = time.perf_counter()
    pooled = build_docs(scans, tmp_path / "pooled", _cfg("ocr.pool.actors=1"))
    t2 = time.perf_counter()
    print(f"in-task OCR {t1 - t0:.1f} s, pool of one actor {t2 - t1:.1f} s")
    assert in_task.ok and pooled.ok and pooled.samples == in_task.samples > 0
    assert _digests(tmp_path / "pooled") == _digests(tmp_path / "in_task")
    stages = [s["operator"] for s in Manifest.load(tmp_path / "pooled").runs[-1]["stages"]]
    assert "PooledOcrRegions" in stages and "OcrRegions" not in stages


def test_cuda_pool_without_onnxruntime_gpu_stops_before_any_shard(scans, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime here has CUDA")
    with pytest.raises(ConfigError, match=r"onnxruntime-gpu.*ocr\.pool\.provider=cpu") as err:
        build_docs(scans, tmp_path / "cuda", _cfg("ocr.pool.actors=1", "ocr.pool.provider=cuda"))
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "cuda").glob("shards/*.tar"))


def test_a_pool_that_leaves_the_tasks_no_cpu_on_a_local_ray_is_refused(scans, tmp_path):
    with pytest.raises(ConfigError, match="leave 0 of the 2 CPUs, less than one shard task's 1: lower ocr.pool.actors"):
        build_docs(scans, tmp_path / "starved", _cfg("ocr.pool.actors=2"))


def test_a_dead_actor_is_restarted_and_a_call_that_fails_for_good_is_the_pages_error_row(scans):
    import ray

    scan = next(p for p in scans if p.endswith("scan-01.png"))
    page = PdfPages()([input_row(scan, kind="image")]).to_pylist()[0]
    backend = start_pool(OcrPoolConfig(actors=1, max_restarts=1), OcrEngineConfig(), 1.0, True)
    try:
        op = PooledOcrRegions(PooledOcr(OcrRegionsConfig(), backend))
        ray.kill(backend.actors[0], no_restart=False)  # Ray restarts it and retries the call
        [read] = op.run_rows([page])
        assert not is_error(read) and read["text_path"] == "ocr" and read["regions"]
        ray.kill(backend.actors[0], no_restart=True)  # no restart left: the page stops here, with why
        [failed] = op.run_rows([page])
    finally:
        stop_pools()
    assert failed["input_id"] == page["input_id"] and failed["error_stage"] == "ocr"
    assert failed["error_type"] == "OcrPoolError" and "OCR actor detect failed" in failed["error_message"]
