"""The report's figures: one function per plot, each taking plain data and returning a PNG data URI.

Every function returns None when it has nothing to draw; the report then says so in words instead of
showing an empty axis. How the figures look (backend, style, shared drawing helpers) is `stats.plot_style`.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from schemas.noise import LEGIBILITY_BANDS, LIGHT, MASKED, MEDIUM, NOISE_LEVELS, NONE
from stats.plot_style import (
    OUTSIDE,
    PALETTE,
    WIDTH,
    bar_labels,
    byte_unit,
    counts_axis,
    hist_bins,
    stacked_bars,
    to_data_uri,
)

TEXT_PATH_ORDER = ("text_layer", "mixed", "ocr")
NOISE_COLORS = {NONE: "#8da0b3", LIGHT: "#7fbf7b", MEDIUM: "#f4a261", MASKED: "#d1495b"}
CATEGORY_COLORS = {"quarantine": "#d1495b", "filtered": "#f4a261", "duplicate": "#6c8ebf"}


def noise_by_task(df: pd.DataFrame) -> str | None:
    """Horizontal stacked bars: samples per task, split by noise level. Columns: task, noise_level, n."""
    if df.empty:
        return None
    table = df.pivot_table(index="task", columns="noise_level", values="n", aggfunc="sum", fill_value=0)
    levels = [lv for lv in NOISE_LEVELS if lv in table.columns] + sorted(c for c in table.columns if c not in NOISE_LEVELS)
    table = table[levels]
    table = table.loc[table.sum(axis=1).sort_values().index]
    colors = [NOISE_COLORS.get(lv, PALETTE[i % len(PALETTE)]) for i, lv in enumerate(levels)]
    return stacked_bars(table, colors, "task", "Samples by task and noise level", "noise level")


def text_paths(df: pd.DataFrame) -> str | None:
    """Horizontal stacked bars: document samples per text path (text layer, mixed, OCR), split by task.
    Columns: text_path, task, n; rows without a text path (images, videos) are left out."""
    df = df.dropna(subset=["text_path"])
    if df.empty:
        return None
    table = df.pivot_table(index="text_path", columns="task", values="n", aggfunc="sum", fill_value=0)
    paths = [p for p in TEXT_PATH_ORDER if p in table.index] + sorted(set(table.index) - set(TEXT_PATH_ORDER))
    table = table.loc[paths[::-1], table.sum().sort_values(ascending=False).index]  # the first path on top
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(table.columns))]
    return stacked_bars(table, colors, "text path", "Document samples by where their text came from", "task")


def cer_by_level(df: pd.DataFrame) -> str | None:
    """Box plots of the character error rate of corrupted regions per noise level and OCR reader, beside
    the same boxes read clean; each level's band (`schemas.noise.LEGIBILITY_BANDS`) shaded in its colour.
    Columns: reader, level, cer, clean_cer."""
    if df.empty:
        return None
    readers = sorted(set(df["reader"]), key=lambda r: (r != "rapidocr", r))
    levels = [lv for lv in NOISE_LEVELS if lv in set(df["level"])]
    data, labels, styles = [], [], []
    for lv in ["none"] + levels:
        for k, reader in enumerate(readers):
            at = df[df["reader"] == reader]
            values = at["clean_cer"] if lv == "none" else at.loc[at["level"] == lv, "cer"]
            data.append(values.to_numpy())
            labels.append(f"{'clean' if lv == 'none' else lv} · {reader} (n={len(values):,})")
            styles.append((NOISE_COLORS.get(lv, PALETTE[0]), "//" if k % 2 else ""))
    fig, ax = plt.subplots(figsize=(WIDTH, 1.2 + 0.45 * len(data)))
    box = ax.boxplot(data, vert=False, patch_artist=True, widths=0.6)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    for patch, (colour, hatch) in zip(box["boxes"], styles):
        patch.set_facecolor(colour)
        patch.set_hatch(hatch)
    for i, lv in enumerate(["none"] + levels):
        lo, hi = LEGIBILITY_BANDS.get(lv, (0.0, 0.10))
        y0 = i * len(readers) + 0.5
        ax.fill_betweenx([y0, y0 + len(readers)], lo - 0.005, hi + 0.005, color=NOISE_COLORS.get(lv, PALETTE[0]),
                         alpha=0.15, lw=0)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("character error rate of the region read back (shaded: the level's band for the median)")
    ax.set_title("Legibility of corrupted regions by noise level and reader")
    ax.invert_yaxis()
    return to_data_uri(fig)


def text_lengths(df: pd.DataFrame) -> str | None:
    """Stacked histogram of text length per task. Columns: task, text_len."""
    df = df.dropna(subset=["text_len"])
    if df.empty:
        return None
    values = df["text_len"].to_numpy(dtype=float)
    bins, log = hist_bins(np.where(values > 0, values, 1) if (values > 0).any() else values)
    tasks = df["task"].fillna("(none)").value_counts().index.tolist()
    fig, ax = plt.subplots(figsize=(WIDTH, 4.2))
    data = [df.loc[df["task"].fillna("(none)") == t, "text_len"].to_numpy(dtype=float) for t in tasks]
    if log:
        data = [np.where(d > 0, d, 1) for d in data]
    ax.hist(data, bins=bins, stacked=True, label=tasks, color=PALETTE[: len(tasks)] if len(tasks) <= len(PALETTE) else None)
    if log:
        ax.set_xscale("log")
    med = float(np.median(values))
    ax.axvline(max(med, 1) if log else med, color="black", linestyle="--", linewidth=1, label=f"median: {med:,.0f}")
    ax.set_xlabel("text length (characters" + (", log scale)" if log else ")"))
    ax.set_ylabel("samples")
    counts_axis(ax.yaxis)
    ax.set_title("Text length per sample, by task")
    ax.legend(title="task", **OUTSIDE)
    return to_data_uri(fig)


def image_sizes(df: pd.DataFrame) -> str | None:
    """Width × height scatter (or hexbin when dense) and a histogram of megapixels. Columns: width, height."""
    df = df.dropna(subset=["width", "height"])
    if df.empty:
        return None
    w, h = df["width"].to_numpy(dtype=float), df["height"].to_numpy(dtype=float)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(WIDTH, 4.4), gridspec_kw={"width_ratios": [1.1, 1]})
    if len(df) > 5000:
        hb = a1.hexbin(w, h, gridsize=40, bins="log", mincnt=1, cmap="viridis")
        fig.colorbar(hb, ax=a1, label="samples (log)")
    else:
        a1.scatter(w, h, s=14, alpha=0.5, color=PALETTE[0], edgecolors="none")
    top = max(w.max(), h.max()) * 1.05
    a1.plot([0, top], [0, top], color="gray", linewidth=0.8, linestyle=":", label="square")
    a1.set_xlim(0, top)
    a1.set_ylim(0, top)
    a1.set_xlabel("width (px)")
    a1.set_ylabel("height (px)")
    a1.set_title("Image width × height")
    a1.legend(loc="upper left")
    pixels = w * h
    div, unit = (1e6, "megapixels") if pixels.max() >= 1e5 else (1e3, "thousand pixels")
    bins, log = hist_bins(pixels / div, 30)
    a2.hist(pixels / div, bins=bins, color=PALETTE[0])
    if log:
        a2.set_xscale("log")
    a2.set_xlabel(unit + " per image" + (" (log scale)" if log else ""))
    a2.set_ylabel("samples")
    counts_axis(a2.yaxis)
    a2.set_title("Pixels per image")
    fig.tight_layout()
    return to_data_uri(fig)


def video_frames(df: pd.DataFrame) -> str | None:
    """Histograms of frames per video sample and of durations. Columns: n_frames, duration."""
    df = df[df["n_frames"].fillna(0) > 0]
    if df.empty:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(WIDTH, 4.0))
    frames = df["n_frames"].to_numpy(dtype=float)
    bins, _ = hist_bins(frames, 30)
    a1.hist(frames, bins=bins, color=PALETTE[2])
    a1.set_xlabel("frames per sample")
    a1.set_ylabel("video samples")
    a1.set_title(f"Frames per video (median {np.median(frames):,.0f})")
    dur = df["duration"].dropna().to_numpy(dtype=float)
    if len(dur):
        bins, log = hist_bins(dur, 30)
        a2.hist(dur, bins=bins, color=PALETTE[4])
        if log:
            a2.set_xscale("log")
        a2.set_xlabel("duration (seconds" + (", log scale)" if log else ")"))
        a2.set_title(f"Video duration (median {np.median(dur):,.1f} s)")
    else:
        a2.axis("off")
        a2.text(0.5, 0.5, "no durations recorded", ha="center", va="center", transform=a2.transAxes)
    a2.set_ylabel("video samples")
    a1.xaxis.set_major_locator(MaxNLocator(integer=True))
    for a in (a1, a2):
        counts_axis(a.yaxis)
    fig.tight_layout()
    return to_data_uri(fig)


def reasons(df: pd.DataFrame, title: str, top: int = 20) -> str | None:
    """Horizontal bars of error counts per reason, colored by category. Columns: reason, category, n."""
    if df.empty:
        return None
    df = df.sort_values("n", ascending=False).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * len(df) + 1.4))
    colors = [CATEGORY_COLORS.get(c, PALETTE[7]) for c in df["category"]]
    bars = ax.barh(df["reason"], df["n"], color=colors, height=0.6)
    bar_labels(ax, bars, df["n"].tolist())
    ax.set_xlim(0, df["n"].max() * 1.12)
    ax.set_ylim(-0.7, len(df) - 0.3)
    ax.set_xlabel("inputs")
    counts_axis(ax.xaxis)
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    present = [c for c in CATEGORY_COLORS if c in set(df["category"])]
    handles = [plt.Rectangle((0, 0), 1, 1, color=CATEGORY_COLORS[c]) for c in present]
    if len(present) > 1:
        ax.legend(handles, present, title="category", **OUTSIDE)
    return to_data_uri(fig)


def shard_sizes(df: pd.DataFrame) -> str | None:
    """Tar size and samples per shard: bars for up to 80 shards, histograms beyond.

    Columns: corpus, shard_id, tar_bytes, samples, has_tar.
    """
    df = df[df["has_tar"].fillna(False).astype(bool)]
    if df.empty:
        return None
    div, unit = byte_unit(float(df["tar_bytes"].max()))
    df = df.assign(tar_size=df["tar_bytes"] / div)
    corpora = list(dict.fromkeys(df["corpus"]))
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(corpora)}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(WIDTH, 4.0))
    if len(df) <= 80:
        x = np.arange(len(df))
        for a, col in ((a1, "tar_size"), (a2, "samples")):
            a.bar(x, df[col], color=[colors[c] for c in df["corpus"]], width=0.8)
            a.set_xlabel("shard (in order)" if len(corpora) > 1 else "shard id")
            if len(corpora) == 1:
                ticks = x if len(x) <= 20 else x[:: max(1, len(x) // 10)]
                a.set_xticks(ticks, [str(int(s)) for s in df["shard_id"].iloc[ticks]])
            else:
                a.set_xticks([])
            a.grid(axis="x", visible=False)
    else:
        for a, col in ((a1, "tar_size"), (a2, "samples")):
            bins, _ = hist_bins(df[col].to_numpy(dtype=float), 30)
            a.hist([df.loc[df["corpus"] == c, col] for c in corpora], bins=bins, stacked=True,
                   color=[colors[c] for c in corpora], label=corpora)
            a.set_xlabel((f"tar size ({unit})" if col == "tar_size" else "samples") + " per shard")
    a1.set_ylabel(f"tar size ({unit})" if len(df) <= 80 else "shards")
    a2.set_ylabel("samples" if len(df) <= 80 else "shards")
    counts_axis(a2.yaxis)
    if len(df) > 80:
        counts_axis(a1.yaxis)
        a2.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.set_title(f"Tar size per shard (median {df['tar_size'].median():,.1f} {unit})")
    a2.set_title(f"Samples per shard (median {df['samples'].median():,.0f})")
    if len(corpora) > 1:
        handles = [plt.Rectangle((0, 0), 1, 1, color=colors[c]) for c in corpora]
        fig.legend(handles, corpora, title="corpus", loc="upper center", ncols=min(len(corpora), 5), bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout()
    return to_data_uri(fig)
