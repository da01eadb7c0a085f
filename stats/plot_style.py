"""How every report figure looks: the Agg backend, one matplotlib style, the palette and width, and the drawing
helpers the figures share (count axes, byte units, bar labels, histogram bins, stacked bars, PNG data URIs)."""
from __future__ import annotations

import base64
import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
WIDTH = 11.0  # inches; with DPI, about 1100 px wide
DPI = 100

plt.rcParams.update({
    "font.size": 11, "axes.titlesize": 13, "axes.titleweight": "bold", "axes.labelsize": 11,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.axisbelow": True, "legend.frameon": False, "figure.dpi": DPI,
})

thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")
OUTSIDE = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def counts_axis(axis: "matplotlib.axis.Axis") -> None:
    """An axis of counts: integer ticks only, with thousands separators."""
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(thousands)


def byte_unit(max_bytes: float) -> tuple[float, str]:
    """(divisor, unit) so the largest value reads between 1 and 1000: kB, MB or GB."""
    for div, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if max_bytes >= div:
            return div, unit
    return 1.0, "bytes"


def to_data_uri(fig: plt.Figure) -> str:
    """The figure as a base64 PNG `data:` URI; closes the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def bar_labels(ax: plt.Axes, bars, totals: Sequence[float], fmt: str = "{:,.0f}") -> None:
    """Write each bar's total just past its end."""
    for rect, total in zip(bars, totals):
        ax.annotate(fmt.format(total), (rect.get_x() + rect.get_width(), rect.get_y() + rect.get_height() / 2),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=10)


def hist_bins(values: np.ndarray, n: int = 40) -> tuple[np.ndarray, bool]:
    """Bins for a histogram: log-spaced when the values span more than two decades."""
    v = values[np.isfinite(values)]
    lo, hi = float(v.min()), float(v.max())
    if lo > 0 and hi / lo > 100:
        return np.logspace(np.log10(lo), np.log10(hi), n + 1), True
    if hi == lo:
        return np.array([lo - 0.5, hi + 0.5]), False
    if np.all(v == np.round(v)) and hi - lo <= n:  # small integer range: one bin per value
        return np.arange(lo - 0.5, hi + 1.5), False
    return np.linspace(lo, hi, n + 1), False


def stacked_bars(table: pd.DataFrame, colors: Sequence[str], ylabel: str, title: str, legend: str) -> str:
    """Horizontal bars, one per row of `table`, stacked by its columns (in order), each labelled with its total."""
    fig, ax = plt.subplots(figsize=(WIDTH, 0.6 * len(table) + 1.6))
    left = np.zeros(len(table))
    bars = None
    for column, color in zip(table.columns, colors):
        bars = ax.barh(table.index, table[column], left=left, label=column, color=color, height=0.6)
        left += table[column].to_numpy()
    bar_labels(ax, bars, left)
    ax.set_xlabel("samples")
    ax.set_ylabel(ylabel)
    counts_axis(ax.xaxis)
    ax.set_xlim(0, left.max() * 1.12)
    ax.set_title(title)
    ax.legend(title=legend, **OUTSIDE)
    ax.grid(axis="y", visible=False)
    return to_data_uri(fig)
