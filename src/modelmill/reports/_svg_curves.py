"""Inline-SVG line charts on the unit square (ROC, precision-recall, calibration, threshold
sweeps) and a heat-coloured count grid (confusion matrices).

Same rules as :mod:`modelmill.reports._svg`: hand-written, rounded coordinates, no ids, and a
"no data" placeholder instead of an exception. Curves are thinned to at most ``MAX_CURVE_POINTS``
points, keeping both ends, so a 100k-row test set still gives a small page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import numpy as np
import numpy.typing as npt

from modelmill.reports._svg import BLUE, GREY, PAD_B, PAD_L, PAD_R, PAD_T, W, empty, num, svg
from modelmill.reports._svg_xy import _frame

PALETTE = (BLUE, "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", GREY, "#ccb974", "#64b5cd")
MAX_CURVE_POINTS = 200
H_CURVE = 240
LEGEND_W = 190
Curve = tuple[np.ndarray, np.ndarray]  # x values, y values


def downsample(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int = MAX_CURVE_POINTS) -> Curve:
    """At most ``max_points`` evenly spaced (x, y) pairs of a curve, first and last kept."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size <= max_points:
        return xs, ys
    keep = np.unique(np.linspace(0, xs.size - 1, max_points).round().astype(int))
    return xs[keep], ys[keep]


def curves(
    series: Mapping[str, Curve],
    *,
    xlabel: str,
    ylabel: str,
    label: str,
    diagonal: bool = False,
    hlines: Mapping[str, float] | None = None,
    vline: float | None = None,
    markers: bool = False,
) -> str:
    """Polylines (``class="curve"``) over [0, 1] x [0, 1], one colour per series, legend on the
    right. ``diagonal``: dashed y = x; ``hlines``: series name -> a dotted reference level in
    that series' colour; ``vline``: a marked x (``class="marker"``); ``markers``: dots at points."""
    if not series:
        return empty(label)
    right, bottom = W - PAD_R, H_CURVE - PAD_B

    def px(v: float) -> float:
        return PAD_L + min(max(v, 0.0), 1.0) * (right - PAD_L)

    def py(v: float) -> float:
        return bottom - min(max(v, 0.0), 1.0) * (bottom - PAD_T)

    parts = [_frame((0.0, 1.0, 0.0, 1.0), xlabel, ylabel, right, bottom)]
    if diagonal:
        parts.append(
            f'<line x1="{PAD_L}" y1="{bottom}" x2="{right}" y2="{PAD_T}" stroke="{GREY}" '
            'stroke-dasharray="4 3"/>'
        )
    for s, (name, (xs, ys)) in enumerate(series.items()):
        col = PALETTE[s % len(PALETTE)]
        if hlines and name in hlines:
            y = py(hlines[name])
            parts.append(
                f'<line class="ref" x1="{PAD_L}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{col}" '
                f'stroke-dasharray="1 3"><title>{escape(name)} base rate {num(hlines[name])}</title></line>'
            )
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys, strict=True))
        parts.append(
            f'<polyline class="curve" points="{points}" fill="none" stroke="{col}" stroke-width="1.5">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if markers:
            parts += [
                f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2.5" fill="{col}"/>'
                for a, b in zip(xs, ys, strict=True)
            ]
    if vline is not None:
        x = px(vline)
        parts.append(
            f'<line class="marker" x1="{x:.1f}" y1="{PAD_T}" x2="{x:.1f}" y2="{bottom}" stroke="#cf222e">'
            f"<title>threshold {num(vline)}</title></line>"
        )
    parts.append(_legend(list(series), right + 10, PAD_T + 2))
    return svg(W + LEGEND_W, H_CURVE, "".join(parts), label)


def _legend(names: list[str], x: float, y0: float) -> str:
    parts = []
    for s, name in enumerate(names):
        y = y0 + 14 * s
        short = name if len(name) <= 34 else name[:20] + "…" + name[-13:]
        parts.append(
            f'<line x1="{x:.0f}" y1="{y + 5:.0f}" x2="{x + 12:.0f}" y2="{y + 5:.0f}" '
            f'stroke="{PALETTE[s % len(PALETTE)]}" stroke-width="2"/>'
            f'<text class="legend" x="{x + 16:.0f}" y="{y + 9:.0f}" font-size="10">{escape(short)}</text>'
        )
    return "".join(parts)


def count_grid(counts: np.ndarray, labels: Sequence[str], *, label: str) -> str:
    """A square grid (rows: true, columns: predicted) of cells (``class="cell"``) shaded by the
    row share, each showing its count and share."""
    counts = np.asarray(counts, dtype=float)
    n = len(labels)
    if n == 0 or counts.shape != (n, n) or counts.sum() == 0:
        return empty(label)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    cell, left, top = (40 if n <= 10 else 30), 130, 24
    parts = [
        f'<text x="{left + n * cell / 2:.0f}" y="12" font-size="11" text-anchor="middle">predicted</text>',
        f'<text x="10" y="{top + n * cell / 2:.0f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 10 {top + n * cell / 2:.0f})">true</text>',
    ]
    for i, name in enumerate(labels):
        short = name if len(name) <= 20 else name[:19] + "…"
        parts.append(
            f'<text x="{left - 4}" y="{top + i * cell + cell * 0.6:.1f}" font-size="10" text-anchor="end">'
            f"{escape(short)}</text>"
        )
        for j in range(n):
            share, x, y = shares[i, j], left + j * cell, top + i * cell
            ink = "#ffffff" if share > 0.6 else "#1f2328"
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{_shade(share)}"><title>true {escape(name)}, predicted {escape(labels[j])}: '
                f"{num(counts[i, j])} ({share:.1%})</title></rect>"
                f'<text x="{x + cell / 2:.1f}" y="{y + cell * 0.45:.1f}" font-size="10" '
                f'text-anchor="middle" fill="{ink}">{num(counts[i, j])}</text>'
                f'<text x="{x + cell / 2:.1f}" y="{y + cell * 0.8:.1f}" font-size="8" '
                f'text-anchor="middle" fill="{ink}">{share:.0%}</text>'
            )
    for j, name in enumerate(labels):
        cx, cy = left + j * cell + cell * 0.6, top + n * cell + 4
        short = name if len(name) <= 20 else name[:19] + "…"
        parts.append(
            f'<text x="{cx:.1f}" y="{cy}" font-size="10" transform="rotate(60 {cx:.1f} {cy})">'
            f"{escape(short)}</text>"
        )
    longest = min(max(len(name) for name in labels), 20)  # room for the rotated column labels
    return svg(left + n * cell + 10 + 3 * longest, top + n * cell + 16 + 5 * longest, "".join(parts), label)


def _shade(t: float) -> str:
    """White at 0 to the report blue at 1."""
    end = (76, 114, 176)
    rgb = [round(255 + (c - 255) * min(max(t, 0.0), 1.0)) for c in end]
    return "#{:02x}{:02x}{:02x}".format(*rgb)
