"""Training, evaluation and data-check reports (modelmill.reports, modelmill.validation.report)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from modelmill.datasets.nyc_demo import generate_listings
from modelmill.reports import evaluation_report, group_metrics, training_report
from modelmill.reports.evaluation import compare
from modelmill.validation import build_report, default_params, render_html, validate
from tests.unit.test_reports_charts import Page, table_rows


def _section(html: str, ident: str) -> str:
    start = html.index(f'<section id="{ident}">')
    return html[start : html.index("</section>", start)]


def test_group_metrics_values() -> None:
    y_true = np.array([100.0, 200.0, 50.0, 70.0, np.nan])
    y_pred = np.array([90.0, 190.0, 60.0, 80.0, 10.0])
    groups = ["Bronx", "Bronx", "Queens", "Queens", "Queens"]
    out = group_metrics(y_true, y_pred, groups)
    assert list(out) == ["Bronx", "Queens"]
    assert out["Bronx"] == {"n": 2, "mae": 10.0, "medae": 10.0, "mean_residual": 10.0}
    assert out["Queens"]["n"] == 2 and out["Queens"]["mean_residual"] == -10.0


def test_training_report_sections() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.uniform(20, 500, 800)
    y_pred = y_true + rng.normal(0, 10, 800)
    groups = np.where(np.arange(800) % 2 == 0, "Manhattan", "Brooklyn")
    report = training_report(
        {"val_mae": 61.25, "val_r2": 0.52},
        {"room_type": 0.2, "latitude": 0.5, "<b>": 0.3},
        y_true, y_pred, groups, max_points=300,
    )  # fmt: skip
    html = report.html
    assert table_rows(html, "metrics")[1:] == [["val_mae", "61.25"], ["val_r2", "0.52"]]
    assert [r[0] for r in table_rows(html, "importance")[1:]] == ["latitude", "<b>", "room_type"]
    assert "<b>" not in html
    assert Page(_section(html, "predicted-vs-actual")).count("circle", "pt") == 300
    residuals = {r[0]: r for r in table_rows(html, "residuals")[1:]}
    assert list(residuals) == ["Brooklyn", "Manhattan"]
    expected = group_metrics(y_true, y_pred, groups)["Manhattan"]["mae"]
    assert float(residuals["Manhattan"][2]) == pytest.approx(expected, abs=1e-3)
    assert html == training_report({"val_mae": 61.25, "val_r2": 0.52}, {"room_type": 0.2, "latitude": 0.5,
                                   "<b>": 0.3}, y_true, y_pred, groups, max_points=300).html  # fmt: skip
    assert not re.search(r"https?://", html)


def test_training_report_metrics_only() -> None:
    html = training_report({"val_mae": 1.0}).html
    assert 'id="importance"' not in html and 'id="residuals"' not in html


def test_compare_directions() -> None:
    rows = compare(
        {"ref": "m:v2", "mae": 60.0, "r2": 0.5, "fit": 3.0}, {"ref": "m:v1", "mae": 62.0, "r2": 0.6}
    )
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["mae"]["delta"] == -2.0 and by_metric["mae"]["better"] == "candidate"
    assert by_metric["r2"]["better"] == "prod"
    assert by_metric["fit"]["prod"] is None and by_metric["fit"]["better"] == "—"


def test_evaluation_report_with_prod_and_groups() -> None:
    html = evaluation_report(
        {"ref": "random_forest_export:v3", "mae": 60.0, "r2": 0.5},
        {"ref": "random_forest_export:v2", "mae": 62.5, "r2": 0.45},
        verdict="candidate MAE 60 < prod MAE 62.5", passed=True, gate={"metric": "mae"},
        by_group={"Queens": {"candidate": {"mae": 40.0}, "prod": {"mae": 45.0}},
                  "Bronx": {"candidate": {"mae": 30.0}, "prod": None}},
        context={"test_data": "test_data.csv:v1"},
    ).html  # fmt: skip
    assert "PROMOTE" in html and "random_forest_export:v2" in html and "test_data.csv:v1" in html
    metrics = {r[0]: r for r in table_rows(html, "metrics")[1:]}
    assert metrics["mae"] == ["mae", "60", "62.5", "-2.5", "candidate"]
    assert metrics["r2"][4] == "candidate"
    groups = table_rows(html, "groups")[1:]
    assert [g[0] for g in groups] == ["Bronx", "Queens"]
    assert groups[0][2] == "—" and groups[1][3] == "-5"


def test_evaluation_report_first_model_and_broken_prod() -> None:
    first = evaluation_report({"ref": "m:v1", "mae": 60.0}, None).html
    assert "first model" in first
    assert table_rows(first, "metrics")[1] == ["mae", "60", "—", "—", "—"]
    broken = evaluation_report({"ref": "m:v2", "mae": 60.0}, {"ref": "m:v1", "mae": None, "error": "<boom>"})
    assert "prod could not be scored: &lt;boom&gt;" in broken.html


def test_data_check_html_has_distributions_and_offending_rows() -> None:
    params = default_params()
    ref = generate_listings(2000, seed=1)
    new = generate_listings(2000, seed=2)
    new["price"] = new["price"] * 1.5
    new.loc[new.index[:3], "price"] = 0
    report = build_report(validate(new, ref, params), sample="new", reference="ref", params=params)
    html = render_html(report)
    ks_price = next(t for t in report["tests"] if t["name"] == "ks_price")
    hist = ks_price["details"]["histogram"]
    assert len(hist["edges"]) == len(hist["new"]) + 1 == len(hist["reference"]) + 1
    assert 0.9 < sum(hist["reference"]) <= 1.0 + 1e-6
    json.dumps(report)  # the document stays JSON-ready
    dist = _section(html, "distributions")
    page = Page(dist)
    assert "ks_price FAIL" in page.texts and "kl_neighbourhood_group" in page.texts
    assert sum(1 for t, a in page.tags if t == "svg") == 1 + 8  # KL shares + one per KS column
    assert "reference" in page.texts and "current" in page.texts
    price_range = next(t for t in report["tests"] if t["name"] == "range_price")
    assert not price_range["passed"]
    assert f"<details open><summary>offending rows ({len(price_range['offending'])} of" in html
    assert str(price_range["offending"][0]["id"]) in html
    assert html == render_html(build_report(validate(new, ref, params), sample="new", reference="ref",
                                            params=params))  # fmt: skip
