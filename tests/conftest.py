"""Shared test fixtures: one local Ray for the whole session, the shared fixtures folder, and a real
S3-compatible server (moto's standalone server on 127.0.0.1)."""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The S3 endpoint and test credentials are in the environment before any Ray process starts, so every
# worker (and every subprocess build) reaches the test server as a user's would: via AWS_ENDPOINT_URL.
S3_ENDPOINT = f"http://127.0.0.1:{_free_port()}"
os.environ.update(AWS_ENDPOINT_URL=S3_ENDPOINT, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def ray_session():
    """Local Ray with 2 CPUs, started once for every test that needs it."""
    import ray

    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures, or a clean skip when the project is checked out without it."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is absent")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def s3_server() -> str:
    """moto's S3 server at $AWS_ENDPOINT_URL for the whole session; returns the endpoint URL."""
    server_mod = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = int(S3_ENDPOINT.rsplit(":", 1)[1])
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield S3_ENDPOINT
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request) -> str:
    """A fresh, empty bucket for one test: `s3://{name}`."""
    import s3fs

    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    fs = s3fs.S3FileSystem()
    if fs.exists(name):
        fs.rm(name, recursive=True)
    fs.mkdir(name)
    return f"s3://{name}"
