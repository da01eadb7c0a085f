"""Third-party readers on a corpus in object storage: webdataset and Ray Data, with the same endpoint
and credentials as the build (`AWS_ENDPOINT_URL`, ... or storage options) through fsspec.

    register_webdataset_fsspec()                      # then wds.WebDataset("s3://bucket/docs/shards/docs-000000.tar")
    ray.data.read_webdataset(*ray_data_source("s3://bucket/docs/shards"))
"""
from __future__ import annotations

from typing import Any

import fsspec

from corpus.storage import Store

#: Schemes whose webdataset handler opens through fsspec (webdataset itself knows none of them).
FSSPEC_SCHEMES = ("s3", "s3a", "gcs", "az", "abfs", "abfss", "memory")


def _gopen_fsspec(url: str, mode: str = "rb", bufsize: int = 8192, **kw: Any) -> Any:
    return fsspec.open(url, mode).open()


def register_webdataset_fsspec(schemes: tuple[str, ...] = FSSPEC_SCHEMES) -> None:
    """Let `webdataset.WebDataset` open `s3://…` (and the other `schemes`) URLs through fsspec."""
    import importlib

    gopen = importlib.import_module("webdataset.gopen")  # the package re-exports a function of that name
    for scheme in schemes:
        gopen.gopen_schemes[scheme] = _gopen_fsspec


def ray_data_source(url: str, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(paths, kwargs) for `ray.data.read_*(paths, **kwargs)`: a URL read through the fsspec filesystem
    (pyarrow's own S3 client ignores AWS_ENDPOINT_URL), a local path as it is."""
    store = Store(url, dict(options or {}))
    if store.local:
        return store.url, {}
    import pyarrow.fs as pafs

    return store.path(), {"filesystem": pafs.PyFileSystem(pafs.FSSpecHandler(store.fs))}
