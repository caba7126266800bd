"""Inline-SVG bar charts drawn with numpy: histograms, category bars, reference-vs-current bins.

Hand-written SVG keeps a report one self-contained file (no matplotlib, no JS, no CDN) and
byte-stable (coordinates rounded, no ids or timestamps). Every function accepts empty,
constant or all-NaN data and then draws a short "no data" note instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

BLUE, ORANGE, GREY = "#4c72b0", "#dd8452", "#8c959f"
W, H = 360, 200
PAD_L, PAD_R, PAD_T, PAD_B = 48, 10, 10, 34


def num(value: float) -> str:
    """A compact tick label."""
    v = float(value)
    if not np.isfinite(v):
        return "—"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.3g}"


def svg(width: int, height: int, body: str, label: str) -> str:
    """The ``<svg>`` element; ``label`` (escaped) is its accessible name."""
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def empty(label: str, width: int = W, height: int = 60) -> str:
    """A placeholder when there is nothing to draw."""
    text = f'<text x="8" y="{height // 2}" font-size="12" fill="{GREY}">no data to plot</text>'
    return svg(width, height, text, label)


def finite(values: Any) -> np.ndarray:
    """The finite float values of ``values`` (non-numeric and missing entries dropped)."""
    series = pd.to_numeric(
        pd.Series(values, dtype=object if not hasattr(values, "dtype") else None), errors="coerce"
    )
    arr = series.to_numpy(dtype=float, na_value=np.nan)
    return arr[np.isfinite(arr)]


def bin_edges(values: np.ndarray, bins: int = 30, clip: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Bin edges over the central ``clip`` percentiles when the tails are long (they would squash
    the plot), else over the full range."""
    if values.size == 0:
        return np.array([0.0, 1.0])
    lo, hi = np.percentile(values, clip)
    full_lo, full_hi = float(values.min()), float(values.max())
    if full_hi - full_lo <= 3 * (hi - lo):  # no long tail: show everything
        lo, hi = full_lo, full_hi
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def hist_counts(values: Any, edges: np.ndarray) -> tuple[list[int], int]:
    """Counts per bin and the number of finite values outside the edges."""
    arr = finite(values)
    counts, _ = np.histogram(arr, bins=edges)
    return [int(c) for c in counts], int(arr.size - counts.sum())


def _axes(x_lo: float, x_hi: float, y_hi: float, xlabel: str, ylabel: str) -> str:
    """Frame, min/max tick labels and axis titles of a plot area of size W x H."""
    right, bottom = W - PAD_R, H - PAD_B
    parts = [
        f'<line x1="{PAD_L}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#57606a"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{bottom}" stroke="#57606a"/>',
        f'<text x="{PAD_L}" y="{bottom + 13}" font-size="10">{escape(num(x_lo))}</text>',
        f'<text x="{right}" y="{bottom + 13}" font-size="10" text-anchor="end">{escape(num(x_hi))}</text>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 8}" font-size="10" text-anchor="end">{escape(num(y_hi))}</text>',
        f'<text x="{PAD_L - 4}" y="{bottom}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{(PAD_L + right) // 2}" y="{H - 4}" font-size="11" text-anchor="middle">'
        f"{escape(xlabel)}</text>",
        f'<text x="12" y="{(PAD_T + bottom) // 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(PAD_T + bottom) // 2})">{escape(ylabel)}</text>',
    ]
    return "".join(parts)


def histogram(edges: Sequence[float], counts: Sequence[int], *, xlabel: str = "", label: str = "") -> str:
    """Bars of ``counts`` over ``edges`` (``len(edges) == len(counts) + 1``)."""
    return compare_histograms(edges, {"count": counts}, xlabel=xlabel, ylabel="count", label=label)


def compare_histograms(
    edges: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "",
    ylabel: str = "share",
    label: str = "",
) -> str:
    """Side-by-side bars per bin, one colour per series (e.g. reference vs current shares)."""
    values = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    top = max((float(v.max()) for v in values.values() if v.size), default=0.0)
    if not values or top <= 0 or len(edges) < 2:
        return empty(label or xlabel)
    n_bins, n_series = len(edges) - 1, len(values)
    width = (W - PAD_L - PAD_R) / n_bins
    bar = width / n_series
    scale = (H - PAD_B - PAD_T) / top
    parts = [_axes(edges[0], edges[-1], top, xlabel, ylabel)]
    for s, (name, v) in enumerate(values.items()):
        colour = (BLUE, ORANGE, GREY)[s % 3]
        for i, c in enumerate(v[:n_bins]):
            h = c * scale
            x = PAD_L + i * width + s * bar
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{H - PAD_B - h:.1f}" width="{max(bar - 0.5, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{escape(name)} '
                f"[{num(edges[i])}, {num(edges[i + 1])}): {num(c)}</title></rect>"
            )
    if n_series > 1:
        parts.append(_legend(list(values), W - PAD_R - 110, PAD_T + 2))
    return svg(W, H, "".join(parts), label or xlabel)


def _legend(names: list[str], x: float, y0: float) -> str:
    """Colour keys for several series."""
    parts = []
    for s, name in enumerate(names):
        y = y0 + 14 * s
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="10" height="10" fill="{(BLUE, ORANGE, GREY)[s % 3]}"/>'
            f'<text x="{x + 14:.0f}" y="{y + 9:.0f}" font-size="10">{escape(name)}</text>'
        )
    return "".join(parts)


def bar_chart(
    labels: Sequence[Any], series: Mapping[str, Sequence[float]], *, label: str = "", xlabel: str = ""
) -> str:
    """Horizontal bars, one row per label and one bar per series (negative values extend left)."""
    values = {k: np.nan_to_num(np.asarray(v, dtype=float)) for k, v in series.items()}
    if not labels or not values:
        return empty(label)
    n_series = len(values)
    row = max(12, 8 * n_series + 6)
    left, right = 150, W + 90
    height = PAD_T + row * len(labels) + 24 + 14 * (n_series > 1) * n_series
    lo = min(0.0, *(float(v.min()) for v in values.values()))
    hi = max(0.0, *(float(v.max()) for v in values.values()))
    span = (hi - lo) or 1.0
    zero = left + (0 - lo) / span * (right - left - 40)
    parts = []
    for i, text in enumerate(labels):
        y = PAD_T + i * row
        short = str(text) if len(str(text)) <= 24 else str(text)[:23] + "…"
        parts.append(
            f'<text x="{left - 4}" y="{y + row * 0.7:.1f}" font-size="10" text-anchor="end">'
            f"{escape(short)}<title>{escape(str(text))}</title></text>"
        )
        for s, (name, v) in enumerate(values.items()):
            val = float(v[i]) if i < v.size else 0.0
            w = abs(val) / span * (right - left - 40)
            x = zero if val >= 0 else zero - w
            by = y + 2 + s * 8
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{by}" width="{max(w, 0.5):.1f}" height="7" '
                f'fill="{(BLUE, ORANGE, GREY)[s % 3]}"><title>{escape(name)}: {num(val)}</title></rect>'
                f'<text x="{x + w + 3 if val >= 0 else x - 3:.1f}" y="{by + 7}" font-size="9" '
                f'text-anchor="{"start" if val >= 0 else "end"}">{escape(num(val))}</text>'
            )
    bottom = PAD_T + row * len(labels)
    parts.append(f'<line x1="{zero:.1f}" y1="{PAD_T}" x2="{zero:.1f}" y2="{bottom}" stroke="#57606a"/>')
    parts.append(
        f'<text x="{(left + right) // 2}" y="{bottom + 16}" font-size="11" text-anchor="middle">'
        f"{escape(xlabel)}</text>"
    )
    if n_series > 1:
        parts.append(_legend(list(values), left, bottom + 22))
    return svg(right, height, "".join(parts), label or xlabel)
