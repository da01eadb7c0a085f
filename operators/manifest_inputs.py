"""Image and video inputs from manifests (Parquet, JSONL, CSV) and folders with sidecars, as `InputItem`s.

Pure functions, no decoding: they only say which file each input is and what text comes with it.

- A manifest row needs a path or fsspec URL column (the first of `PATH_COLUMNS` present); relative
  paths resolve against the manifest's folder. Text comes from `caption`-like, `conversations`-like or
  question/answer columns (see `TEXT_KEYS`); a CSV cell holding JSON is parsed. Other scalar columns
  are kept under `meta["extra"]`. Input ids are `{manifest file name}#{row:08d}`, so inputs keep the
  manifest's order.
- A folder is walked recursively for media files; `x.jpg` takes its text from `x.txt` (a caption) or
  `x.json` (an object with the same keys as a manifest row, or a list of conversation turns). Input ids
  are `{folder name}/{relative path}`.
- A single media file given directly is one input, id = its file name.
- Anything else (a glob, an `@list` file, an fsspec URL) is expanded by `corpus.inputs.expand_inputs`
  (ids as there); local files found that way still take their sidecar text.

Rows whose path cell is empty or not a string are still inputs (their source is the cell as JSON), so
they reach the pipeline and are quarantined there; a line that cannot be read (not JSON, not UTF-8, not
an object) and a media file whose sidecar cannot be read are inputs that carry their error
(`bad_manifest_line`, `bad_sidecar`) to the error table: nothing is dropped silently, and one bad line
never fails the build.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from corpus.errors import UserError
from corpus.inputs import InputItem
from corpus.storage import is_url, local_path

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".flv")
MANIFEST_EXTS = (".parquet", ".jsonl", ".json", ".csv")
PATH_COLUMNS = ("path", "image", "video", "url", "file", "filepath", "image_path", "video_path", "file_name")
#: meta keys and the manifest columns (first present wins) that fill them
TEXT_KEYS: dict[str, tuple[str, ...]] = {
    "caption": ("caption", "text", "description", "alt"),
    "conversations": ("conversations", "conversation", "messages"),
    "qa": ("qa", "qas", "qa_pairs"),
    "question": ("question",),
    "answer": ("answer",),
}


def media_exts(kind: str) -> tuple[str, ...]:
    """File extensions of `kind` ("image" or "video")."""
    if kind not in ("image", "video"):
        raise ValueError(f"kind must be 'image' or 'video', got {kind!r}")
    return IMAGE_EXTS if kind == "image" else VIDEO_EXTS


def _json_safe(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if hasattr(v, "tolist"):  # numpy arrays and scalars
        return _json_safe(v.tolist())
    return str(v)


def _maybe_json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def text_meta(record: dict[str, Any]) -> dict[str, Any]:
    """The text fields of a manifest row or sidecar object, under the canonical keys of `TEXT_KEYS`."""
    meta: dict[str, Any] = {}
    for key, columns in TEXT_KEYS.items():
        for col in columns:
            v = _maybe_json(_json_safe(record.get(col)))
            if v not in (None, "", [], {}):
                meta[key] = v
                break
    return meta


class ManifestError(UserError, ValueError):
    """A manifest or input list that cannot be used at all (a user error: one line, exit 2)."""


@dataclass(frozen=True)
class BadLine:
    """A manifest line (or list item) that cannot be read: `where` is `file:line`, `reason` says why."""

    where: str
    reason: str


def _jsonl_rows(p: Path) -> list[dict[str, Any] | BadLine]:
    rows: list[dict[str, Any] | BadLine] = []
    with open(p, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            where = f"{p}:{number}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                rows.append(BadLine(where, f"not UTF-8 text (byte {e.start} of the line)"))
                continue
            except json.JSONDecodeError as e:
                rows.append(BadLine(where, f"not valid JSON ({e.msg}, column {e.colno})"))
                continue
            rows.append(obj if isinstance(obj, dict) else BadLine(where, f"a JSON {type(obj).__name__}, not an object"))
    return rows


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, as surrogateescape decodes them


def _csv_rows(p: Path) -> list[dict[str, Any] | BadLine]:
    rows: list[dict[str, Any] | BadLine] = []
    with open(p, newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        for row in reader:
            if any(isinstance(v, str) and _NOT_UTF8.search(v) for v in row.values()):
                rows.append(BadLine(f"{p}:{reader.line_num}", "not UTF-8 text"))
            else:
                rows.append(row)
    return rows


def read_manifest(path: str | Path) -> list[dict[str, Any] | BadLine]:
    """The rows of a Parquet, JSONL/JSON-list or CSV manifest, as dicts; a line that cannot be read is a
    `BadLine` in its place (it becomes a quarantined input). A file that cannot be read at all raises
    `ManifestError` naming it."""
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                return pq.read_table(p).to_pylist()
            except pa.ArrowException as e:
                raise ManifestError(f"{p}: not a readable Parquet file ({' '.join(str(e).split())})") from e
        if suffix == ".csv":
            return _csv_rows(p)
        if suffix == ".jsonl":
            return _jsonl_rows(p)
        if suffix == ".json":
            try:
                data = json.loads(p.read_bytes().decode("utf-8"))
            except UnicodeDecodeError as e:
                raise ManifestError(f"{p}: not UTF-8 text (byte {e.start}); save it as UTF-8") from e
            except json.JSONDecodeError as e:
                raise ManifestError(f"{p}: not valid JSON ({e.msg}, line {e.lineno} column {e.colno}); "
                                    "fix it, or write one object per line as a .jsonl manifest") from e
            if not isinstance(data, list):
                raise ManifestError(f"{p}: a JSON manifest must be a list of objects")
            return [d if isinstance(d, dict) else BadLine(f"{p}: item {i}", f"a JSON {type(d).__name__}, not an object")
                    for i, d in enumerate(data)]
    except OSError as e:
        raise ManifestError(f"{p}: cannot read it ({e.strerror or e})") from e
    raise ManifestError(f"{p}: unknown manifest format (expected one of {MANIFEST_EXTS})")


def _bad_input(p: Path, i: int, kind: str, bad: BadLine) -> InputItem:
    return InputItem(input_id=f"{p.name}#{i:08d}", source=bad.where, kind=kind,
                     error=("bad_manifest_line", f"{bad.where}: {bad.reason}: fix or remove that line and rerun "
                                                 "the build, which adds it"))


def manifest_items(path: str | Path, kind: str) -> list[InputItem]:
    """One `InputItem` per manifest row; see the module docstring for columns and ids."""
    p = Path(path)
    rows = read_manifest(p)
    first = next((r for r in rows if isinstance(r, dict)), None)
    path_col = next((c for c in PATH_COLUMNS if c in first), None) if first else None
    if first is not None and path_col is None:
        raise ManifestError(f"{p}: no path column; expected one of {PATH_COLUMNS}, found {sorted(first)}")
    known = {path_col, *(c for cols in TEXT_KEYS.values() for c in cols)}
    items = []
    for i, row in enumerate(rows):
        if isinstance(row, BadLine):
            items.append(_bad_input(p, i, kind, row))
            continue
        cell = row.get(path_col)
        if isinstance(cell, str) and cell:
            cell = local_path(cell)
            source = cell if is_url(cell) or Path(cell).is_absolute() else str((p.parent / cell).resolve())
        else:
            source = json.dumps(_json_safe(cell))
        meta = text_meta(row)
        extra = {k: _json_safe(v) for k, v in row.items() if k not in known and v not in (None, "")}
        if extra:
            meta["extra"] = extra
        items.append(InputItem(input_id=f"{p.name}#{i:08d}", source=source, kind=kind, meta=meta))
    return items


def sidecar_meta(media: Path) -> dict[str, Any]:
    """Text for `media` from `media.with_suffix('.json')` or `.txt`, or {} when it has none."""
    js, txt = media.with_suffix(".json"), media.with_suffix(".txt")
    if js.is_file():
        data = json.loads(js.read_text(encoding="utf-8"))
        if isinstance(data, list):
            return {"conversations": data}
        if isinstance(data, dict):
            meta = text_meta(data)
            extra = {k: _json_safe(v) for k, v in data.items() if k not in {c for cs in TEXT_KEYS.values() for c in cs}}
            return meta | ({"extra": extra} if extra else {})
        return {"caption": str(data)}
    if txt.is_file():
        return {"caption": txt.read_text(encoding="utf-8").strip()}
    return {}


def media_item(input_id: str, media: Path, kind: str) -> InputItem:
    """The input for local file `media` with its sidecar text; an unreadable sidecar makes it a `bad_sidecar` input."""
    source = str(media.resolve())
    try:
        return InputItem(input_id=input_id, source=source, kind=kind, meta=sidecar_meta(media))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as e:
        why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else \
            f"not valid JSON ({e.msg}, line {e.lineno})" if isinstance(e, json.JSONDecodeError) else str(e)
        return InputItem(input_id=input_id, source=source, kind=kind,
                         error=("bad_sidecar", f"the caption file beside {media} is {why}: fix or remove it and "
                                               "rerun the build, which adds this input"))


def folder_items(folder: str | Path, kind: str) -> list[InputItem]:
    """One `InputItem` per media file under `folder` (recursive), with sidecar text."""
    root = Path(folder)
    exts = media_exts(kind)
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in exts)
    return [media_item(f"{root.name}/{f.relative_to(root).as_posix()}", f, kind) for f in files]


def _expanded(spec: str, kind: str, exts: tuple[str, ...]) -> list[InputItem]:
    from corpus.inputs import expand_inputs

    items = expand_inputs([spec], {e: kind for e in exts})
    return [InputItem(i.input_id, i.source, kind) if is_url(i.source) else media_item(i.input_id, Path(i.source), kind)
            for i in items]


def collect_inputs(paths: Iterable[str | Path], kind: str) -> list[InputItem]:
    """Inputs from any mix of folders, manifests and single media files, in the order given.

    Raises ManifestError for two inputs with the same id, FileNotFoundError for an INPUT that names nothing.
    """
    exts = media_exts(kind)
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = folder_items(p, kind)
        elif p.is_file() and p.suffix.lower() in MANIFEST_EXTS:
            found = manifest_items(p, kind)
        elif p.is_file() and p.suffix.lower() in exts:
            found = [media_item(p.name, p, kind)]
        else:
            found = _expanded(str(raw), kind, exts)
        log.info("%s: %d %s inputs", raw, len(found), kind)
        items.extend(found)
    seen: set[str] = set()
    for it in items:
        if it.input_id in seen:
            raise ManifestError(f"input id {it.input_id!r} appears twice; give each folder or manifest once")
        seen.add(it.input_id)
    return items
