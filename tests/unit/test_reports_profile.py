"""The EDA profile (modelmill.reports.profile) on generated NYC listings and edge cases."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from modelmill.datasets.nyc_demo import generate_listings
from modelmill.reports import Report, profile
from tests.unit.test_reports_charts import Page, table_rows

NUMERIC = ["id", "host_id", "latitude", "longitude", "price", "minimum_nights", "number_of_reviews",
           "reviews_per_month", "calculated_host_listings_count", "availability_365"]  # fmt: skip


@pytest.fixture(scope="module")
def listings() -> pd.DataFrame:
    return generate_listings(3000, seed=7)


def _section(html: str, ident: str) -> str:
    start = html.index(f'<section id="{ident}">')
    return html[start : html.index("</section>", start)]


def test_columns_table_has_real_counts(listings: pd.DataFrame) -> None:
    report = profile(listings, title="sample.csv:v1")
    assert isinstance(report, Report) and "<title>sample.csv:v1</title>" in report.html
    rows = table_rows(report.html, "columns")
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[:5] == ["column", "type", "missing", "missing %", "distinct"]
    assert list(body) == list(listings.columns)
    for column in listings.columns:
        assert int(body[column]["missing"]) == int(listings[column].isna().sum()), column
        assert int(body[column]["distinct"]) == listings[column].nunique(), column
    assert body["reviews_per_month"]["missing"] != "0"
    assert body["price"]["type"] == "numeric" and body["last_review"]["type"] == "datetime"
    assert body["neighbourhood_group"]["type"] == "categorical" and body["name"]["type"] == "text"
    assert float(body["price"]["max"]) == listings["price"].max()
    assert float(body["availability_365"]["p50"]) == pytest.approx(
        listings["availability_365"].median(), rel=1e-3
    )


def test_warnings_constant_missing_and_target_outside_its_range(listings: pd.DataFrame) -> None:
    frame = listings.copy()
    frame["const"] = 7
    frame.loc[frame.index[:5], "price"] = 0
    frame.loc[frame.index[5:8], "price"] = 12_000
    frame["half_missing"] = np.where(np.arange(len(frame)) % 3 == 0, np.nan, 1.0 * np.arange(len(frame)))
    report = profile(frame, target="price", target_range=(10, 10_000))
    warnings = report.warnings
    low = int((frame["price"] < 10).sum())
    high = int((frame["price"] > 10_000).sum())
    assert any(w.startswith("const: constant column") for w in warnings)
    assert f"price: {low} rows with price < 10, below the declared range [10, 10,000]" in warnings
    assert f"price: {high} rows with price > 10,000, above the declared range [10, 10,000]" in warnings
    assert not any("declared range" in w for w in profile(frame).warnings)  # no range declared: none
    open_top = profile(frame, target="price", target_range=(10, None)).warnings
    assert any("below the declared range [10, -]" in w for w in open_top) and not any(
        "above" in w for w in open_top
    )
    share = frame["half_missing"].isna().mean()
    assert any(w.startswith(f"half_missing: high missing share {share:.1%}") for w in warnings)
    assert not any(w.startswith("half_missing") for w in profile(frame, missing_threshold=0.5).warnings)
    assert not any(w.startswith(("id:", "latitude: constant")) for w in warnings)
    section = Page(_section(report.html, "warnings"))
    assert sum(1 for t, _ in section.tags if t == "li") == len(warnings)  # each warning listed once


def test_high_cardinality_warning(listings: pd.DataFrame) -> None:
    warnings = profile(listings).warnings
    assert any(w.startswith("name: high cardinality") for w in warnings)
    assert not any(w.startswith("room_type: high cardinality") for w in warnings)


def test_target_section(listings: pd.DataFrame) -> None:
    numeric = _section(profile(listings, target="price").html, "target")
    assert "Target: price" in numeric and 'aria-label="distribution of the target price"' in numeric
    assert str(float(listings["price"].median())) in numeric or f"{listings['price'].median():g}" in numeric
    classes = Page(_section(profile(listings, target="room_type").html, "target"))
    top = listings["room_type"].value_counts()
    assert top.index[0] in classes.texts and str(top.iloc[0]) in classes.texts
    assert 'id="target"' not in profile(listings).html


def test_map_points_capped_and_heatmap_cells(listings: pd.DataFrame) -> None:
    html = profile(listings, max_points=400, target="price").html
    map_page = Page(_section(html, "map"))
    assert map_page.count("circle", "pt") == 400
    assert "price" in map_page.texts  # the colour scale's title: the target
    assert "price" not in Page(_section(profile(listings, max_points=400).html, "map")).texts
    renamed = listings.rename(columns={"longitude": "east", "latitude": "north"})
    assert 'id="map"' not in profile(renamed).html
    assert Page(_section(profile(renamed, coordinates=("east", "north"), max_points=50).html, "map")).count(
        "circle", "pt") == 50  # fmt: skip
    heat = Page(_section(html, "correlations"))
    assert heat.count("rect", "cell") == len(NUMERIC) ** 2
    small = profile(listings.head(150)).html
    assert Page(_section(small, "map")).count("circle", "pt") == 150
    assert 'id="map"' not in profile(listings.drop(columns=["latitude"])).html


def test_histograms_and_top_categories(listings: pd.DataFrame) -> None:
    html = profile(listings).html
    dist = _section(html, "distributions")
    for column in NUMERIC:
        assert f'aria-label="histogram of {column}"' in dist
    cats = Page(_section(html, "categories"))
    top = listings["neighbourhood_group"].value_counts()
    assert top.index[0] in cats.texts and str(top.iloc[0]) in cats.texts


def test_escaping_and_self_contained() -> None:
    frame = pd.DataFrame({"<script>alert(1)</script>": ["<img src=x>", "b", "b"], "x": [1.0, 2.0, 3.0]})
    html = profile(frame, title="<script>t</script>").html
    assert "<script" not in html.lower() and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"https?://", html)
    assert not any("src" in attrs or "href" in attrs for _, attrs in Page(html).tags)


def test_deterministic_output(listings: pd.DataFrame) -> None:
    assert profile(listings).html == profile(listings.copy()).html
    assert profile(listings).html != profile(listings.head(2999)).html


def test_empty_and_all_nan_frames() -> None:
    assert "<h1>Data profile</h1>" in profile(pd.DataFrame()).html
    report = profile(pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=object)}))
    assert table_rows(report.html, "columns")[1][:3] == ["a", "empty", "0"]
    frame = pd.DataFrame({"allnan": [np.nan] * 4, "v": [1.0, 2.0, 2.0, 3.0], "w": [4.0, 1.0, 0.0, 3.0]})
    report = profile(frame)
    assert "allnan: all 4 values are missing" in report.warnings
    assert Page(_section(report.html, "correlations")).count("rect", "cell") == 4  # v and w only


def test_fast_on_50k_rows() -> None:
    frame = generate_listings(50_000, seed=1)
    started = time.perf_counter()
    html = profile(frame).html
    assert time.perf_counter() - started < 8
    assert Page(_section(html, "map")).count("circle", "pt") == 5000


def test_awkward_columns() -> None:
    frame = pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [True, False, None], "c": ["x", 1, None],
                          "l": [[1], [2], [1]], 0: [5, 5, 5]})  # fmt: skip
    frame = pd.concat([frame, frame[["a"]]], axis=1)
    report = profile(frame)
    rows = {r[0]: r for r in table_rows(report.html, "columns")[1:]}
    assert list(rows) == ["a", "b", "c", "l", "0", "a (2)"]
    assert rows["l"][4] == "2" and rows["b"][1] == "boolean"
    assert "0: constant column (every present value is 5)" in report.warnings
    assert not any("constant" in w for w in profile(frame.head(1)).warnings)  # one row proves nothing
