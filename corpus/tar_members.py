"""Parse one sample's byte range of a tar into its members, refusing anything hostile.

The stats table gives each sample's byte range; `parse_members(data, key)` reads the USTAR headers inside
it and returns `{ext: bytes}` (`"jpg"`, `"json"`, `"mp4"`, ...). It raises `SampleError` with a short
reason, never anything else, when the range is not exactly the sample's members:

- a header checksum is wrong or a member runs past the range (`corrupt-header`, `truncated`);
- a member is not a regular file (links, devices, pax/GNU extension headers) (`not-a-file`);
- a name is absolute, climbs with `..`, has a directory part, or belongs to another key (`bad-name`);
- a member is a pickle (`.pth`, `.pt`, `.pickle`, `.pkl`, `.pyd`, `.npy`...) (`pickle-refused`): this
  loader never unpickles, whatever a tar holds;
- a member is larger than `max_member_bytes` (`member-too-large`).

`read_record(members)` is the sample's record, the one parse every reader (loader, export, show) shares.
"""
from __future__ import annotations

import tarfile

from schemas.record import SampleRecord

BLOCK = tarfile.BLOCKSIZE
REGULAR = (b"0", b"\0")
#: Extensions whose default decoders (webdataset's, torch.load, numpy.load) can run code from the data.
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp"})  # members a reader decodes as images
VIDEO_EXTS = frozenset({"mp4", "webm", "mkv", "mov", "avi"})  # video containers kept whole
PICKLE_EXTS = frozenset({"pth", "pt", "pickle", "pkl", "pyd", "npy", "npz", "ckpt", "joblib"})


class SampleError(Exception):
    """A sample that cannot be used; `reason` is a short stable label for the counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _octal(field: bytes) -> int:
    text = field.rstrip(b"\0 ").lstrip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError as e:
        raise SampleError("corrupt-header", f"bad number {field!r}") from e


def _checksum_ok(header: bytes) -> bool:
    stored = _octal(header[148:156])
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    return stored == unsigned


def _name(header: bytes) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
    full = (prefix + b"/" + name) if prefix else name
    try:
        return full.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SampleError("bad-name", repr(full[:60])) from e


def member_ext(name: str, key: str) -> str:
    """The extension of member `name` of sample `key`; `SampleError("bad-name")` when it is not `{key}.{ext}`."""
    if name.startswith("/") or "\\" in name or ".." in name.split("/") or "/" in name:
        raise SampleError("bad-name", repr(name[:80]))
    if not name.startswith(key + ".") or len(name) == len(key) + 1:
        raise SampleError("bad-name", f"{name[:80]!r} is not a member of {key}")
    return name[len(key) + 1:]


def parse_members(data: bytes, key: str, max_member_bytes: int) -> dict[str, bytes]:
    """The members of sample `key` in `data` (its exact byte range), checked as the module docstring says."""
    members: dict[str, bytes] = {}
    pos, end = 0, len(data)
    if end == 0:
        raise SampleError("truncated", "empty range")
    while pos < end:
        header = data[pos:pos + BLOCK]
        if len(header) < BLOCK:
            raise SampleError("truncated", f"header at {pos} cut short")
        if not any(header):
            raise SampleError("corrupt-header", f"end-of-archive block inside the sample at {pos}")
        if not _checksum_ok(header):
            raise SampleError("corrupt-header", f"bad checksum at {pos}")
        if header[156:157] not in REGULAR:
            raise SampleError("not-a-file", f"type {header[156:157]!r} at {pos}")
        ext = member_ext(_name(header), key)
        if ext.rsplit(".", 1)[-1].lower() in PICKLE_EXTS:
            raise SampleError("pickle-refused", f"{key}.{ext}")
        size = _octal(header[124:136])
        if size > max_member_bytes:
            raise SampleError("member-too-large", f"{key}.{ext}: {size} bytes")
        body = pos + BLOCK
        if body + size > end:
            raise SampleError("truncated", f"{key}.{ext} runs past the sample's range")
        if ext in members:
            raise SampleError("bad-name", f"{key}.{ext} appears twice")
        members[ext] = data[body:body + size]
        pos = body + (size + BLOCK - 1) // BLOCK * BLOCK
    return members


def read_record(members: dict[str, bytes]) -> SampleRecord:
    """The sample's `{key}.json` record; SampleError ("no-record", "bad-record") when missing or unreadable."""
    if "json" not in members:
        raise SampleError("no-record", "sample has no json member")
    try:
        return SampleRecord.from_json(members["json"])
    except Exception as e:
        raise SampleError("bad-record", f"{type(e).__name__}: {e}") from e
