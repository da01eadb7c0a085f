"""What a store without rename needs beyond the happy path, on moto's S3 server in its own process:
wrong credentials (IAM auth switched on) refused with a clear error and nothing trusted left behind; the
multipart upload a killed task left pending is aborted by the rerun."""
from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading

import pytest

from benchmarks.local_s3 import start_moto
from corpus.errors import UserError
from pipelines.demo.documents import generate_demo_corpus
from pipelines.docs import DocsConfig, build_docs
from pipelines.engine.run_config import RunConfig

boto3 = pytest.importorskip("boto3")
s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def iam_s3():
    """An S3 server that checks every request's keys and signature (moto's IAM auth, on after the first
    three unauthenticated calls that create a user with an access key); yields (endpoint, key, secret)."""
    proc, endpoint = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})  # auth read from its own environment
    try:
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="builder")
        iam.put_user_policy(UserName="builder", PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName="builder")["AccessKey"]
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _s3(endpoint: str, key: str, secret: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)


def _objects(client, bucket: str) -> dict[str, str]:
    """Every object of `bucket` with the SHA-256 of its bytes."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = hashlib.sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()).hexdigest()
    return out


def _cfg(endpoint: str | None = None, key: str = "", secret: str = "") -> DocsConfig:
    """Docs at 72 dpi, 2 inputs per shard; the session's S3 server, or `endpoint` with these keys."""
    options = {"endpoint_url": endpoint, "key": key, "secret": secret} if endpoint else {}
    cfg = DocsConfig(run=RunConfig(num_cpus=2, inputs_per_shard=2, progress=False, storage_options=options))
    cfg.pages.dpi = 72
    return cfg


@pytest.fixture(scope="module")
def docs_inputs(tmp_path_factory) -> list[str]:
    files = generate_demo_corpus(tmp_path_factory.mktemp("demo"))
    return [str(p) for p in files if p.suffix == ".pdf" and "scan" not in p.name][:3]


@pytest.mark.parametrize("wrong", ["unknown key id", "wrong secret"])
def test_wrong_credentials_fail_clearly_and_leave_nothing_trusted(ray_session, iam_s3, docs_inputs, wrong):
    """A half-built corpus (one shard's stats missing), resumed with wrong keys: a UserError naming the
    URL and the credentials to check; the objects are exactly as before (no lock, no manifest update, no
    stats, no pending upload); the same command with the right keys then finishes the build."""
    endpoint, key, secret = iam_s3
    good = _s3(endpoint, key, secret)
    bucket = "wrong-keys-" + wrong.split()[0]
    good.create_bucket(Bucket=bucket)
    url = f"s3://{bucket}/docs"
    assert build_docs(docs_inputs, url, _cfg(endpoint, key, secret)).shards_written == 2
    good.delete_object(Bucket=bucket, Key="docs/stats/docs-000001.parquet")  # interrupted before its stats
    before = _objects(good, bucket)

    bad = ("AKIAWRONGWRONGWRONG", secret) if wrong == "unknown key id" else (key, "not-the-secret")
    with pytest.raises(UserError, match=rf"{url}.*access was refused: check the credentials .*rerun"):
        build_docs(docs_inputs, url, _cfg(endpoint, *bad))
    assert _objects(good, bucket) == before
    assert good.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    summary = build_docs(docs_inputs, url, _cfg(endpoint, key, secret))
    assert summary.ok and summary.shards_written == 1 and summary.inputs_skipped == 2
    assert "docs/stats/docs-000001.parquet" in _objects(good, bucket) and "docs/.lock" not in _objects(good, bucket)


def test_rerun_aborts_the_upload_a_killed_task_left_pending(ray_session, s3_bucket, docs_inputs):
    """A task killed mid-upload can abort nothing: its multipart upload stays pending (invisible, yet
    stored). The rerun that writes that shard again aborts it; uploads elsewhere are not its business."""
    from corpus.multipart_upload import S3MultipartUpload

    url, bucket = f"{s3_bucket}/docs", s3_bucket.split("://")[1]
    assert build_docs(docs_inputs, url, _cfg()).shards_written == 2
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.rm_file(f"{bucket}/docs/stats/docs-000001.parquet")
    killed = S3MultipartUpload(fs, f"{bucket}/docs/shards/docs-000001.tar")
    killed.write(b"x" * (5 << 20))  # one part sent, then the task died: neither completed nor aborted
    other = S3MultipartUpload(fs, f"{bucket}/elsewhere/big.bin")
    other.write(b"y" * (5 << 20))
    assert {u["Key"] for u in fs.list_multipart_uploads(bucket)} == {"docs/shards/docs-000001.tar", "elsewhere/big.bin"}

    summary = build_docs(docs_inputs, url, _cfg())
    assert summary.ok and summary.shards_written == 1
    assert [u["Key"] for u in fs.list_multipart_uploads(bucket)] == ["elsewhere/big.bin"]
    other.discard()
    assert fs.list_multipart_uploads(bucket) == []


def _race(url: str, rounds: int, before=None) -> list[list[str]]:
    """`rounds` times: two threads start `BuildLock.acquire` on a fresh `url/r{n}` at once (a barrier);
    returns, per round, the run ids that got the lock."""
    from corpus.storage import Store
    from pipelines.engine.lock import BuildLock

    winners = []
    for n in range(rounds):
        store = Store(f"{url}/r{n}")
        if before:
            before(store)
        barrier, got = threading.Barrier(2), []

        def take(run_id: str) -> None:
            lock = BuildLock(store, run_id)
            barrier.wait()
            try:
                lock.acquire()
                got.append(run_id)
            except UserError:
                pass

        threads = [threading.Thread(target=take, args=(f"run-{n}-{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners.append(got)
    return winners


@pytest.mark.parametrize("where", ["s3", "local"])
def test_two_builds_racing_for_the_lock_never_both_get_it(s3_bucket, tmp_path, where):
    """The lock is created with a conditional write (S3 `If-None-Match: *`, a local hard link): of two
    builds starting at the same instant exactly one holds the lock, the other is refused."""
    winners = _race(f"{s3_bucket}/corpus" if where == "s3" else str(tmp_path), rounds=10)
    assert all(len(w) == 1 for w in winners), winners


def test_two_builds_taking_over_a_stale_lock_never_both_get_it(s3_bucket):
    """A lock left by a dead driver on this host is replaced only in the version judged stale (S3
    `If-Match` on its ETag): of two reruns racing to take it over exactly one does."""
    from corpus.storage import Store

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {"run_id": "crashed", "host": socket.gethostname(), "pid": dead.pid, "started": 0}

    def leave_stale_lock(store: Store) -> None:
        store.put(".lock", json.dumps(stale).encode())

    winners = _race(f"{s3_bucket}/corpus", rounds=10, before=leave_stale_lock)
    assert all(len(w) == 1 for w in winners), winners
    assert json.loads(Store(f"{s3_bucket}/corpus/r9").read(".lock"))["run_id"] == winners[9][0]


@pytest.mark.parametrize("where", ["s3", "local"])
def test_conditional_writes_of_the_store(s3_bucket, tmp_path, where):
    """`create` writes only what is absent; on S3 `replace` writes only over the version it was given
    (what the lock takeover relies on), elsewhere it overwrites."""
    from corpus.storage import Store

    store = Store(f"{s3_bucket}/c" if where == "s3" else str(tmp_path))
    assert store.create("obj", b"first") and not store.create("obj", b"second")
    assert store.read("obj") == b"first"
    data, tag = store.read_tagged("obj")
    assert data == b"first" and (tag is not None) == (where == "s3")
    assert store.replace("obj", b"third", tag) and store.read("obj") == b"third"
    assert store.replace("obj", b"fourth", tag) == (where == "local")  # S3: that version is gone
    store.delete("obj")
    assert store.replace("obj", b"fifth", tag) == (where == "local")
