"""The Store's local writer and the background uploader, without a server."""
from __future__ import annotations

import io

import pytest

from corpus.background_upload import BackgroundUpload
from corpus.storage import Store, is_url, local_path, redact
from operators.manifest_inputs import manifest_items
from stats.duckdb_io import normalize


def test_background_upload_keeps_order_and_reports_errors():
    target = io.BytesIO()
    up = BackgroundUpload(target, chunk=1000, depth=1)
    parts = [bytes([i % 251]) * (37 * i) for i in range(200)]
    for p in parts:
        up.write(p)
    up.finish()
    assert target.getvalue() == b"".join(parts)

    class Refusing(io.BytesIO):
        def write(self, data):
            raise PermissionError("AccessDenied")

    up = BackgroundUpload(Refusing(), chunk=10, depth=1)
    with pytest.raises(PermissionError):
        for _ in range(100):
            up.write(b"x" * 10)
        up.finish()
    up.stop()


def test_local_writer_appears_only_when_complete(tmp_path):
    store = Store(str(tmp_path))
    with pytest.raises(RuntimeError):
        with store.writer("shards/a.tar") as f:
            f.write(b"half")
            raise RuntimeError("the task died")
    assert not list((tmp_path / "shards").iterdir())
    with store.writer("shards/a.tar") as f:
        f.write(b"whole")
    assert store.read("shards/a.tar") == b"whole" and store.names("shards") == ["a.tar"]


def test_storage_options_are_redacted_for_the_record():
    assert redact({"endpoint_url": "http://h", "secret": "s", "key": "k", "client_kwargs": {}}) == {
        "endpoint_url": "http://h", "secret": "***", "key": "***", "client_kwargs": {}}


def test_one_url_rule_for_every_module(tmp_path):
    assert all(is_url(u) for u in ("s3://b/k", "gs://b", "az://c/p", "https://h/p.pdf", "hf://datasets/x"))
    assert not any(is_url(p) for p in ("file:///tmp/x", "/tmp/x", "x/y.pdf", "C://x", tmp_path))
    assert local_path("file:///tmp/x.pdf") == "/tmp/x.pdf" and local_path("s3://b/k") == "s3://b/k"
    # a file:// URL names a local file wherever it is given: a corpus folder, a store, a manifest row
    assert normalize(f"file://{tmp_path}/") == str(tmp_path) == Store(f"file://{tmp_path}").url
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "m.jsonl").write_text(f'{{"image": "file://{tmp_path}/a.jpg", "caption": "c"}}\n')
    assert [i.source for i in manifest_items(tmp_path / "m.jsonl", "image")] == [str(tmp_path / "a.jpg")]
