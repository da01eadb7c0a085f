"""A local S3 server for benchmarks: moto's standalone server on 127.0.0.1, endpoint in the environment.

`local_s3(bucket)` starts the server, points `AWS_ENDPOINT_URL` and test credentials at it (so every
Ray process and subprocess started afterwards reaches it as it would a real store) and creates
`bucket`. Use it before Ray starts.
"""
from __future__ import annotations

import contextlib
import os
import socket
from typing import Iterator


@contextlib.contextmanager
def local_s3(bucket: str) -> Iterator[str]:
    """Run a moto S3 server for the duration of the block; yields `s3://{bucket}`."""
    import s3fs
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    try:
        s3fs.S3FileSystem().mkdir(bucket)
        yield f"s3://{bucket}"
    finally:
        server.stop()
