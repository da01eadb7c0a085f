"""A contact sheet: document samples at each noise level, corrupted regions outlined, for people to look at.

A sample is shown by its image, or by the first frame of its video (`{key}.mp4`, `corpus.video_member`)."""
from __future__ import annotations

import io
import json
import logging
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pyarrow.dataset as pads  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from PIL import Image  # noqa: E402

from corpus.errors import UserError  # noqa: E402
from corpus.sink import STATS  # noqa: E402
from corpus.video_member import demux_frames  # noqa: E402
from schemas.noise import CORRUPTING, LIGHT, MASKED, MEDIUM, NONE
from schemas.video_member import VIDEO_MEMBER_EXT  # noqa: E402
from stats.show import fetch_sample  # noqa: E402

log = logging.getLogger(__name__)

LEVELS = (*CORRUPTING, NONE)
LEVEL_COLOURS = {LIGHT: "tab:green", MEDIUM: "tab:orange", MASKED: "tab:red", NONE: "tab:blue"}


def _zoom_box(regions: list[dict], width: int, height: int, margin: float = 0.12) -> tuple[float, float, float, float]:
    """A crop around the corrupted regions with context, so glyph-level noise is visible."""
    if not regions:
        return 0, 0, width, height
    x0 = min(r["bbox"][0] for r in regions); y0 = min(r["bbox"][1] for r in regions)
    x1 = max(r["bbox"][2] for r in regions); y1 = max(r["bbox"][3] for r in regions)
    mx, my = max(margin * width, 40), max(margin * height * 0.5, 40)
    return max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)


def _first_image(members: dict[str, bytes]) -> Image.Image:
    """The sample's image, or its video's first frame."""
    for name, data in members.items():
        if name.endswith((".jpg", ".png")):
            return Image.open(io.BytesIO(data))
        if name.endswith("." + VIDEO_MEMBER_EXT):
            return Image.open(io.BytesIO(demux_frames(data, name)[0][0]))
    raise UserError(f"no image or video member to show among {sorted(members)}")


def _calibration(corpus_dir: Path) -> dict[str, dict[str, list[float]]]:
    """Sample key -> reader -> CER of its regions, from DIR/calibration.parquet (`mmcorpus docs calibrate
    DIR --no-fit`); a table without a reader column was read by RapidOCR alone."""
    path = corpus_dir / "calibration.parquet"
    if not path.is_file():
        return {}
    table = pq.read_table(path)
    readers = table.column("reader").to_pylist() if "reader" in table.column_names else ["rapidocr"] * len(table)
    out: dict[str, dict[str, list[float]]] = {}
    for key, reader, c in zip(table.column("key").to_pylist(), readers, table.column("cer").to_pylist()):
        out.setdefault(key, {}).setdefault(reader or "rapidocr", []).append(c)
    return out


def _cer_note(by_reader: dict[str, list[float]]) -> str:
    """' · CER rapidocr 0.42 · tesseract 0.61' (one figure per region, in region order)."""
    return "".join(f" · CER {reader} {', '.join(f'{c:.2f}' for c in cers)}"
                   for reader, cers in sorted(by_reader.items(), key=lambda kv: (kv[0] != "rapidocr", kv[0])))


def contact_sheet(corpus_dir: str | Path, out_png: str | Path, per_level: int = 3) -> Path:
    """Write a PNG grid: one row per noise level, `per_level` samples each (first keys in order; samples
    measured in DIR/calibration.parquet first, their regions' CER per OCR reader in the title)."""
    stats = pads.dataset(Path(corpus_dir) / STATS, format="parquet").to_table(
        columns=["key", "noise_level", "noise_family", "noise_strength", "task"]).to_pylist()
    cer = _calibration(Path(corpus_dir))
    chosen = {lv: sorted((r for r in stats if r["noise_level"] == lv), key=lambda r: (r["key"] not in cer, r["key"]))[:per_level]
              for lv in LEVELS}
    levels = [lv for lv in LEVELS if chosen[lv]]
    if not levels:
        raise UserError(f"{corpus_dir} holds no document samples to show")
    fig, axes = plt.subplots(len(levels), per_level, figsize=(6 * per_level, 6.2 * len(levels)), squeeze=False)
    for i, lv in enumerate(levels):
        for j in range(per_level):
            ax = axes[i][j]
            ax.axis("off")
            if j >= len(chosen[lv]):
                continue
            s = fetch_sample(corpus_dir, chosen[lv][j]["key"])
            key = s.location.key
            img = _first_image(s.members)
            rec = json.loads(s.members[f"{key}.json"])
            regions = rec.get("regions") or []
            x0, y0, x1, y1 = _zoom_box(regions, img.width, img.height)
            ax.imshow(img.crop((int(x0), int(y0), int(x1), int(y1))), cmap="gray", vmin=0, vmax=255)  # gray pages: no colormap
            for r in regions:
                b = r["bbox"]
                ax.add_patch(patches.Rectangle((b[0] - x0, b[1] - y0), b[2] - b[0], b[3] - b[1], fill=False,
                                               lw=1.5, ec=LEVEL_COLOURS[r["level"]]))
            target = rec["conversations"][-1]["content"]
            fam = ", ".join(sorted({f"{r['family']} {r['strength']:.2f}" for r in regions})) or "clean page"
            read = _cer_note(cer[key]) if key in cer else ""
            # wrapped to the column's width (~60 characters at 9 pt): long titles ran into the next column
            head = textwrap.fill(f"{lv} · {rec['task']} · {fam}{read}", 60)
            ax.set_title(f"{head}\ntarget: " + textwrap.shorten(target, 52), fontsize=9, loc="left")
    fig.suptitle("mmcorpus document samples by noise level (boxes: corrupted regions; crop around them)", fontsize=13)
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    log.info("contact sheet: %s", out)
    return out
