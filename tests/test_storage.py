"""The Store's local writer and the background uploader, without a server."""
from __future__ import annotations

import io

import pytest

from corpus.background_upload import BackgroundUpload
from corpus.storage import Store, redact


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
