"""Inline-SVG scatter plots (optionally coloured, with a colour scale) and correlation heatmaps.

Scatter plots draw at most ``max_points`` points, chosen by a fixed-seed sample, so a 50k-row
frame gives a small page that is the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from modelmill.reports._svg import GREY, PAD_B, PAD_L, PAD_R, PAD_T, H, W, empty, num, svg

MAX_POINTS = 5000
SAMPLE_SEED = 0
# viridis-like stops, low -> high
STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float)


def colour(t: float) -> str:
    """The scale colour at ``t`` in [0, 1] (grey for NaN)."""
    if not np.isfinite(t):
        return GREY
    pos = min(max(t, 0.0), 1.0) * (len(STOPS) - 1)
    i = min(int(pos), len(STOPS) - 2)
    rgb = STOPS[i] + (STOPS[i + 1] - STOPS[i]) * (pos - i)
    return "#{:02x}{:02x}{:02x}".format(*(round(float(c)) for c in rgb))


def _floats(values: Any) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def sample_index(n: int, max_points: int = MAX_POINTS, seed: int = SAMPLE_SEED) -> np.ndarray:
    """At most ``max_points`` of ``range(n)``, sorted, the same for equal arguments."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def _span(v: np.ndarray) -> tuple[float, float]:
    lo, hi = float(v.min()), float(v.max())
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)


def scatter(
    x: Any,
    y: Any,
    *,
    color: Any = None,
    xlabel: str = "",
    ylabel: str = "",
    color_label: str = "",
    diagonal: bool = False,
    max_points: int = MAX_POINTS,
    label: str = "",
    size: tuple[int, int] = (W, H),
) -> str:
    """Points (``class="pt"``) of the finite (x, y) pairs; ``color`` values map to a scale clipped
    at their 2nd-98th percentiles; ``diagonal`` draws y = x (predicted vs actual); ``size``: plot
    area (width, height) in pixels."""
    xs, ys = _floats(x), _floats(y)
    cs = _floats(color) if color is not None else np.full(xs.size, np.nan)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys, cs = xs[keep], ys[keep], cs[keep]
    if xs.size == 0:
        return empty(label or f"{ylabel} vs {xlabel}")
    pick = sample_index(xs.size, max_points)
    xs, ys, cs = xs[pick], ys[pick], cs[pick]
    (x_lo, x_hi), (y_lo, y_hi) = _span(xs), _span(ys)
    if diagonal:
        x_lo = y_lo = min(x_lo, y_lo)
        x_hi = y_hi = max(x_hi, y_hi)
    width, height = size
    right, bottom = width - PAD_R, height - PAD_B
    px = PAD_L + (xs - x_lo) / (x_hi - x_lo) * (right - PAD_L)
    py = bottom - (ys - y_lo) / (y_hi - y_lo) * (bottom - PAD_T)
    finite_c = cs[np.isfinite(cs)]
    c_lo, c_hi = np.percentile(finite_c, [2, 98]) if finite_c.size else (0.0, 1.0)
    c_span = (c_hi - c_lo) or 1.0
    parts = [_frame((x_lo, x_hi, y_lo, y_hi), xlabel, ylabel, right, bottom)]
    if diagonal:
        parts.append(
            f'<line x1="{PAD_L}" y1="{bottom}" x2="{right}" y2="{PAD_T}" stroke="#cf222e" '
            'stroke-dasharray="4 3"/>'
        )
    default = "#4c72b0" if color is None else GREY
    for a, b, c in zip(px, py, cs, strict=True):
        fill = colour((c - c_lo) / c_span) if np.isfinite(c) else default
        parts.append(
            f'<circle class="pt" cx="{a:.1f}" cy="{b:.1f}" r="1.6" fill="{fill}" fill-opacity="0.7"/>'
        )
    if color is not None and finite_c.size:
        parts.append(_scale(float(c_lo), float(c_hi), color_label, right + 8, bottom))
    total = width + 70 if color is not None else width
    return svg(total, height, "".join(parts), label or f"{ylabel} vs {xlabel}")


def _frame(box: tuple[float, float, float, float], xlabel: str, ylabel: str, right: int, bottom: int) -> str:
    """Border, min/max tick labels and axis titles of a scatter plot."""
    x_lo, x_hi, y_lo, y_hi = box
    return (
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{right - PAD_L}" height="{bottom - PAD_T}" fill="none" '
        f'stroke="#57606a"/>'
        f'<text x="{PAD_L}" y="{bottom + 13}" font-size="10">{escape(num(x_lo))}</text>'
        f'<text x="{right}" y="{bottom + 13}" font-size="10" text-anchor="end">{escape(num(x_hi))}</text>'
        f'<text x="{PAD_L - 4}" y="{PAD_T + 8}" font-size="10" text-anchor="end">{escape(num(y_hi))}</text>'
        f'<text x="{PAD_L - 4}" y="{bottom}" font-size="10" text-anchor="end">{escape(num(y_lo))}</text>'
        f'<text x="{(PAD_L + right) // 2}" y="{bottom + PAD_B - 4}" font-size="11" text-anchor="middle">'
        f"{escape(xlabel)}</text>"
        f'<text x="12" y="{(PAD_T + bottom) // 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(PAD_T + bottom) // 2})">{escape(ylabel)}</text>'
    )


def _scale(lo: float, hi: float, title: str, x: int, bottom: int) -> str:
    """A vertical colour bar from ``lo`` (bottom) to ``hi`` (top)."""
    steps, top, height = 20, PAD_T + 14, bottom - PAD_T - 14
    step = height / steps
    parts = [f'<text x="{x}" y="{PAD_T + 8}" font-size="10">{escape(title)}</text>']
    for i in range(steps):
        y = top + i * step
        parts.append(
            f'<rect x="{x}" y="{y:.1f}" width="10" height="{step + 0.3:.1f}" '
            f'fill="{colour(1 - (i + 0.5) / steps)}"/>'
        )
    parts.append(f'<text x="{x + 13}" y="{top + 8}" font-size="9">≥{escape(num(hi))}</text>')
    parts.append(f'<text x="{x + 13}" y="{top + height}" font-size="9">≤{escape(num(lo))}</text>')
    return "".join(parts)


def heatmap(matrix: Any, labels: Sequence[str], *, label: str = "correlation") -> str:
    """A square grid of cells (``class="cell"``) coloured blue (-1) to red (+1); NaN cells grey."""
    values = np.asarray(matrix, dtype=float)
    n = len(labels)
    if n == 0 or values.shape != (n, n):
        return empty(label)
    cell, left, top = 26, 170, 10
    size = left + cell * n + 10
    parts = []
    for i, name in enumerate(labels):
        short = name if len(name) <= 26 else name[:25] + "…"
        y = top + i * cell + cell * 0.65
        parts.append(
            f'<text x="{left - 4}" y="{y:.1f}" font-size="10" text-anchor="end">{escape(short)}</text>'
        )
        for j in range(n):
            v = values[i, j]
            fill = _diverging(v)
            text = num(round(v, 2)) if np.isfinite(v) else "—"
            parts.append(
                f'<rect class="cell" x="{left + j * cell}" y="{top + i * cell}" width="{cell - 1}" '
                f'height="{cell - 1}" fill="{fill}"><title>{escape(name)} &#215; {escape(labels[j])}: '
                f"{escape(text)}</title></rect>"
            )
    for j, name in enumerate(labels):  # column labels, rotated, below the grid
        x, y = left + j * cell + cell * 0.6, top + n * cell + 4
        short = name if len(name) <= 26 else name[:25] + "…"
        parts.append(
            f'<text x="{x:.1f}" y="{y}" font-size="10" transform="rotate(60 {x:.1f} {y})">'
            f"{escape(short)}</text>"
        )
    height = top + n * cell + 110
    return svg(size, height, "".join(parts), label)


def _diverging(v: float) -> str:
    """White at 0, blue towards -1, red towards +1."""
    if not np.isfinite(v):
        return "#d0d7de"
    t = min(abs(v), 1.0)
    end = (178, 24, 43) if v > 0 else (33, 102, 172)
    rgb = [round(255 + (c - 255) * t) for c in end]
    return "#{:02x}{:02x}{:02x}".format(*rgb)
