"""Where a corpus lives: a local folder or an object-store prefix (`s3://bucket/prefix`, `gs://…`, any fsspec URL).

`Store` is the one writer abstraction of a build: every shard task, the driver (manifest, lock) and the
images dedup pass write through it. Contracts that make a store without rename safe:

- `writer(rel)` streams an object: a local file under a temp name renamed into place, a remote object
  as a multipart upload (sent from a background thread while the task goes on, `BackgroundUpload`)
  that is completed on success and **aborted** on any error, so a failed write leaves nothing (or the
  previous object) under the final name;
- `put(rel, data)` writes a small object whole (local: temp name, fsync, rename);
- listings bypass fsspec's listing cache, so resume sees what is really there.

Credentials and endpoints come from the usual environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `GOOGLE_APPLICATION_CREDENTIALS`, …) of each process, plus `options` (fsspec
storage options, e.g. `{"endpoint_url": …}`), which travel with the `Store` to the workers.
Storage failures become `UserError`s that name the URL and say what to do (`storage_error`).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import fsspec

from corpus.background_upload import BackgroundUpload
from corpus.errors import UserError

TMP_PREFIX = ".tmp-"  # local temp files (tars and tables being written); removed when a run starts
_SECRET_WORDS = ("secret", "key", "token", "password", "credential")


def is_url(path: str | os.PathLike) -> bool:
    """True for a remote URL (`s3://…`, `gs://…`, `https://…`); False for local paths and `file://` URLs.
    The project's one rule: every module asks this, so a path is remote in one place and all."""
    head, sep, _ = str(path).partition("://")
    return bool(sep) and len(head) > 1 and head != "file"


def local_path(path: str | os.PathLike) -> str:
    """A `file://` URL as the plain path it names; anything else unchanged."""
    s = str(path)
    return s[len("file://"):] if s.startswith("file://") else s


def redact(options: dict[str, Any]) -> dict[str, Any]:
    """Storage options as they may be logged or recorded: secret-looking values hidden."""
    return {k: ("***" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in options.items()}


def is_storage_error(exc: BaseException) -> bool:
    """True for the errors a file system or an object-store client raises (OSError, botocore, ...)."""
    mod = type(exc).__module__.split(".", 1)[0]
    return isinstance(exc, OSError) or mod in ("botocore", "aiobotocore", "s3fs", "gcsfs", "adlfs", "aiohttp",
                                                "google", "azure")


def storage_error(exc: BaseException, url: str, doing: str) -> UserError:
    """A storage exception as a UserError naming `url`, the operation and the likely fix."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "nosuchbucket" in low or "bucket does not exist" in low or "specified bucket" in low:
        advice = "the bucket does not exist: create it first or fix the URL"
    elif isinstance(exc, PermissionError) or any(w in low for w in ("accessdenied", "invalidaccesskeyid",
                                                                    "signaturedoesnotmatch", "forbidden", "403")):
        advice = ("access was refused: check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                  "--storage-options) and that they may write here")
    elif any(w in low for w in ("connect", "endpoint", "timed out", "timeout")):
        advice = "the store cannot be reached: check AWS_ENDPOINT_URL / --storage-options endpoint_url and the network"
    else:
        advice = "check the URL, the credentials and that the store accepts writes"
    return UserError(f"{doing} {url} failed ({text[:300]}); {advice}. Nothing unfinished is marked complete: "
                     "rerun the same command to resume.")


@dataclass
class Store:
    """A corpus root: `url` (absolute local path or URL, no trailing slash) and fsspec `options`."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        u = str(self.url)
        if u.startswith("file://"):
            u = u[len("file://"):]
        self.url = u.rstrip("/") if is_url(u) else str(Path(local_path(u)).expanduser().resolve())
        self._fs: Any = None

    @classmethod
    def of(cls, out: "str | os.PathLike | Store", options: dict[str, Any] | None = None) -> "Store":
        """`out` as a Store (a Store is returned as it is)."""
        return out if isinstance(out, Store) else cls(str(out), dict(options or {}))

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.url, self.options, self._fs = state["url"], state["options"], None

    @property
    def local(self) -> bool:
        return not is_url(self.url)

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (created lazily in each process)."""
        if self._fs is None:
            if self.local:
                self._fs = fsspec.filesystem("file")
            else:
                self._fs, _ = fsspec.core.url_to_fs(self.url, **self.options)
        return self._fs

    def path(self, *parts: str) -> str:
        """The filesystem path of `parts` below the root (what `fs` methods take)."""
        root = self.url if self.local else self.url.split("://", 1)[1]
        return "/".join([root, *parts])

    def child(self, *parts: str) -> str:
        """The URL (or local path) of `parts` below the root, for readers outside this class."""
        return "/".join([self.url, *parts])

    def exists(self, rel: str) -> bool:
        self.fs.invalidate_cache(self.path(rel))
        return self.fs.exists(self.path(rel))

    def read(self, rel: str) -> bytes:
        return self.fs.cat_file(self.path(rel))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.path(rel)))

    def put(self, rel: str, data: bytes) -> None:
        """Write a small object whole; local files through a temp name, fsync and rename."""
        if not self.local:
            self.fs.pipe_file(self.path(rel), data)
            return
        with self.writer(rel) as f:
            f.write(data)

    @contextlib.contextmanager
    def writer(self, rel: str) -> Iterator[BinaryIO]:
        """A binary stream to `rel`; it appears under that name only if the block ends without error."""
        if self.local:
            final = Path(self.path(rel))
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(TMP_PREFIX + final.name)
            try:
                with open(tmp, "wb") as f:
                    yield f
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            return
        f = self.fs.open(self.path(rel), "wb")
        up = BackgroundUpload(f)
        try:
            yield up  # type: ignore[misc]
            up.finish()
        except BaseException:
            up.stop()
            # abort the multipart upload: no partial object appears (an upload that cannot even be
            # aborted, the store being gone, stays invisible too: S3 shows only completed uploads)
            with contextlib.suppress(Exception):
                f.discard()
            f.closed = True  # nothing left to flush, also not when the file object is collected
            raise
        f.close()

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(rel))

    def names(self, sub: str) -> list[str]:
        """File names directly under `sub` (empty when it does not exist), read fresh from the store."""
        d = self.path(sub)
        self.fs.invalidate_cache(d)
        try:
            entries = self.fs.ls(d, detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def prepare(self, subdirs: tuple[str, ...]) -> list[str]:
        """Create the local folders and remove temp files a crashed run left; returns what was removed.
        On an object store there is nothing to prepare: aborted uploads leave no object."""
        removed: list[str] = []
        if not self.local:
            return removed
        for sub in subdirs:
            d = Path(self.path(sub))
            d.mkdir(parents=True, exist_ok=True)
            for stale in d.glob(TMP_PREFIX + "*"):
                stale.unlink()
                removed.append(str(stale))
        return removed
