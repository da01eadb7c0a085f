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
they reach the pipeline and are quarantined there: nothing is dropped silently.
"""
from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any, Iterable

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


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a Parquet, JSONL/JSON-list or CSV manifest, as dicts."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(p).to_pylist()
    if suffix == ".csv":
        with open(p, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if suffix == ".jsonl":
        with open(p, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{p}: a JSON manifest must be a list of objects")
        return data
    raise ValueError(f"{p}: unknown manifest format (expected one of {MANIFEST_EXTS})")


def manifest_items(path: str | Path, kind: str) -> list[InputItem]:
    """One `InputItem` per manifest row; see the module docstring for columns and ids."""
    p = Path(path)
    rows = read_manifest(p)
    if not rows:
        return []
    path_col = next((c for c in PATH_COLUMNS if c in rows[0]), None)
    if path_col is None:
        raise ValueError(f"{p}: no path column; expected one of {PATH_COLUMNS}, found {sorted(rows[0])}")
    known = {path_col, *(c for cols in TEXT_KEYS.values() for c in cols)}
    items = []
    for i, row in enumerate(rows):
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


def folder_items(folder: str | Path, kind: str) -> list[InputItem]:
    """One `InputItem` per media file under `folder` (recursive), with sidecar text."""
    root = Path(folder)
    exts = media_exts(kind)
    files = sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in exts)
    return [
        InputItem(input_id=f"{root.name}/{f.relative_to(root).as_posix()}", source=str(f.resolve()), kind=kind,
                  meta=sidecar_meta(f))
        for f in files
    ]


def _expanded(spec: str, kind: str, exts: tuple[str, ...]) -> list[InputItem]:
    from corpus.inputs import expand_inputs

    items = expand_inputs([spec], {e: kind for e in exts})
    return [InputItem(i.input_id, i.source, kind, {} if is_url(i.source) else sidecar_meta(Path(i.source)))
            for i in items]


def collect_inputs(paths: Iterable[str | Path], kind: str) -> list[InputItem]:
    """Inputs from any mix of folders, manifests and single media files, in the order given.

    Raises ValueError for two inputs with the same id, FileNotFoundError for an INPUT that names nothing.
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
            found = [InputItem(input_id=p.name, source=str(p.resolve()), kind=kind, meta=sidecar_meta(p))]
        else:
            found = _expanded(str(raw), kind, exts)
        log.info("%s: %d %s inputs", raw, len(found), kind)
        items.extend(found)
    seen: set[str] = set()
    for it in items:
        if it.input_id in seen:
            raise ValueError(f"input id {it.input_id!r} appears twice; give each folder or manifest once")
        seen.add(it.input_id)
    return items
