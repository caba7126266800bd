"""The inline-SVG chart primitives and the page shell (modelmill.reports)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from modelmill.reports import (
    Report,
    bar_chart,
    bin_edges,
    compare_histograms,
    heatmap,
    hist_counts,
    histogram,
    scatter,
)
from modelmill.reports.layout import fmt, page, table


class Page(HTMLParser):
    """Tags (with attributes), texts and the text of each element id'd section, for assertions."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data.strip())

    def count(self, tag: str, css_class: str | None = None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (css_class is None or a.get("class") == css_class))


def table_rows(html: str, section_id: str) -> list[list[str]]:
    """The cell texts of the first table inside ``<section id=section_id>``."""
    start = html.index(f'<section id="{section_id}">')
    chunk = html[start : html.index("</table>", start)]
    rows = []
    for raw in chunk.split("<tr>")[1:]:
        cells = Page(raw.replace("</td>", "\x00</td>").replace("</th>", "\x00</th>"))
        rows.append([c.strip("\x00").strip() for c in "".join(cells.texts).split("\x00")][:-1])
    return rows


def svg_tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_histogram_bars_match_counts() -> None:
    values = np.array([0, 0, 1, 2, 2, 2, 9.0])
    edges = bin_edges(values, bins=3)
    counts, outside = hist_counts(values, edges)
    assert counts == [6, 0, 1] and outside == 0
    root = svg_tree(histogram(list(edges), counts, xlabel="x"))
    bars = [r for r in root.iter("rect") if r.get("class") == "bar"]
    assert len(bars) == 3
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[0] > heights[2] > heights[1] == 0


def test_long_tail_is_clipped_and_counted() -> None:
    values = np.concatenate([np.arange(1000.0), [1e6]])
    edges = bin_edges(values, bins=10)
    assert edges[-1] < 1e6
    _, outside = hist_counts(values, edges)
    assert outside >= 1


@pytest.mark.parametrize("values", [[], [np.nan, np.nan], [5.0] * 10, ["a", None]])
def test_histogram_degenerate_inputs(values: list[object]) -> None:
    edges = bin_edges(np.asarray([v for v in values if isinstance(v, float) and np.isfinite(v)]), 5)
    counts, _ = hist_counts(values, edges)
    svg = histogram(list(edges), counts, xlabel="x")
    root = svg_tree(svg)
    assert root.tag == "svg"
    if sum(counts) == 0:
        assert "no data" in svg


def test_compare_histograms_side_by_side() -> None:
    svg = compare_histograms([0, 1, 2], {"reference": [0.5, 0.5], "current": [0.2, 0.8]}, xlabel="price")
    root = svg_tree(svg)
    bars = [r for r in root.iter("rect") if r.get("class") == "bar"]
    assert len(bars) == 4
    titles = [b.find("title").text for b in bars]  # type: ignore[union-attr]
    assert titles[0].startswith("reference") and titles[2].startswith("current")
    assert "reference" in svg and "current" in svg  # legend


def test_bar_chart_escapes_and_handles_negatives() -> None:
    svg = bar_chart(["<b>x</b>", "y"], {"v": [3.0, -2.0]})
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    root = svg_tree(svg)
    assert sum(1 for r in root.iter("rect") if r.get("class") == "bar") == 2
    assert "no data" in bar_chart([], {"v": []})


def test_scatter_caps_points_and_drops_nan() -> None:
    x = np.arange(20_000, dtype=float)
    x[:10] = np.nan
    svg = scatter(x, x * 2, color=x, max_points=700, color_label="price")
    assert len([c for c in svg_tree(svg).iter("circle") if c.get("class") == "pt"]) == 700
    small = scatter([1, 2, np.nan], [1, np.nan, 3])
    assert len(list(svg_tree(small).iter("circle"))) == 1
    assert svg == scatter(x, x * 2, color=x, max_points=700, color_label="price")  # seeded sample
    assert "no data" in scatter([], [])
    just_over = scatter(np.arange(701.0), np.arange(701.0), max_points=700)
    assert len(list(svg_tree(just_over).iter("circle"))) == 700


def test_heatmap_has_n_squared_cells_and_greys_nan() -> None:
    matrix = np.array([[1.0, -0.5, np.nan], [-0.5, 1.0, 0.2], [np.nan, 0.2, 1.0]])
    root = svg_tree(heatmap(matrix, ["a", "b", "c"]))
    cells = [r for r in root.iter("rect") if r.get("class") == "cell"]
    assert len(cells) == 9
    assert cells[2].get("fill") == "#d0d7de" and cells[0].get("fill") != cells[1].get("fill")
    assert "no data" in heatmap(np.zeros((0, 0)), [])


def test_page_and_report(tmp_path: Path) -> None:
    html = page("T <1>", table([{"a": 1.0, "b": None}, {"a": 0.123456}]))
    assert html.startswith("<!DOCTYPE html>") and "T &lt;1&gt;" in html
    assert fmt(1.0) == "1" and fmt(float("nan")) == "—" and fmt(0.123456) == "0.1235"
    report = Report("t", html)
    assert report.save(tmp_path / "sub" / "r.html").read_text(encoding="utf-8") == html
    shown = report._repr_html_()
    assert shown.startswith("<iframe") and "<!DOCTYPE" not in shown and "&lt;!DOCTYPE html&gt;" in shown
