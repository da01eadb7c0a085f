"""Turning what a user names on the command line into `InputItem`s.

An INPUT is a file, a folder (searched recursively), a glob pattern, a list file (`@list.txt`: one
path or URL per line, `#` comments), or an fsspec URL (`s3://bucket/docs/*.pdf`). Input ids are the
path relative to the folder or glob root that named the file, so a corpus keeps its ids when it moves.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec

from corpus.errors import UserError
from corpus.storage import is_url
from schemas.tables import MAX_MESSAGE, QUARANTINE


@dataclass(frozen=True)
class InputItem:
    """One unit of input: a document, a page image, an image or a video; `meta` is JSON-serialisable.

    An input that is known to be bad before any work (a malformed manifest line, an unreadable sidecar)
    carries `error = (error_type, message)`: it travels as a quarantined row to the error table, so it
    is accounted for without failing the build."""

    input_id: str
    source: str
    kind: str
    meta: dict[str, Any] = field(default_factory=dict)
    error: tuple[str, str] | None = None

    def row(self, shard_id: int, seq: int) -> dict[str, Any]:
        """This input as a row of `INPUT_SCHEMA` (an error row when `error` is set)."""
        out = dict(input_id=self.input_id, source=self.source, shard_id=shard_id, seq=seq, kind=self.kind,
                   meta_json=json.dumps(self.meta, sort_keys=True))
        if self.error:
            out.update(error_stage="inputs", error_type=self.error[0], error_message=self.error[1][:MAX_MESSAGE],
                       error_category=QUARANTINE)
        return out


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def input_id(relative: str) -> str:
    """A readable, dot-free, unique id: the sanitised relative path plus a short hash of it."""
    stem = _UNSAFE.sub("_", relative).strip("_")[-60:]
    return f"{stem}-{hashlib.blake2b(relative.encode(), digest_size=4).hexdigest()}"


def _expand_one(spec: str, exts: set[str]) -> list[tuple[str, str]]:
    """(source, relative name) pairs for one INPUT."""
    if spec.startswith("@"):
        lines = Path(spec[1:]).read_text().splitlines()
        out: list[tuple[str, str]] = []
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.extend(_expand_one(line, exts))
        return out
    if is_url(spec):
        fs, _, paths = fsspec.get_fs_token_paths(spec)
        if fs.isdir(paths[0]):
            found = [p for p in fs.find(paths[0]) if Path(p).suffix.lower() in exts]
            root = paths[0]
        else:
            found = fs.glob(spec) if any(c in spec for c in "*?[") else paths
            root = os.path.dirname(paths[0].split("*")[0])
        proto = spec.split("://", 1)[0]
        return [(f"{proto}://{p}", os.path.relpath(p, root)) for p in sorted(found)]
    path = Path(spec)
    if path.is_dir():
        return [(str(p), str(p.relative_to(path))) for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in exts]
    if any(c in spec for c in "*?["):
        root = Path(spec.split("*")[0].split("?")[0].split("[")[0]).parent
        return [(p, os.path.relpath(p, root)) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
    if path.is_file():
        return [(str(path), path.name)]
    raise UserError(f"input {spec!r} is not a file, folder, glob, @list file or URL: check the path")


def expand_inputs(specs: list[str], kinds: dict[str, str]) -> list[InputItem]:
    """Every file the INPUTs name whose extension is in `kinds` (extension → input kind), deduplicated.

    Files whose extension is unknown are still returned (kind "unknown") when named explicitly, so the
    pipeline quarantines them with a reason instead of dropping them silently.
    """
    exts = set(kinds)
    items: dict[str, InputItem] = {}
    for spec in specs:
        for source, rel in _expand_one(spec, exts):
            iid = input_id(rel)
            if iid in items and items[iid].source != source:
                iid = input_id(source)
            kind = kinds.get(Path(source).suffix.lower(), "unknown")
            items.setdefault(iid, InputItem(input_id=iid, source=source, kind=kind))
    return sorted(items.values(), key=lambda i: i.input_id)
