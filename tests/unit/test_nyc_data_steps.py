"""The demo generator and the data steps: get_data, basic_cleaning, data_split."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from modelmill import ConfigError, Pipeline, UsageError, Workspace, step
from modelmill.config import compose
from modelmill.datasets import COLUMNS, generate_listings
from modelmill.datasets.io import read_listings, write_csv
from modelmill.datasets.spec import spec_from_config
from modelmill.runner import Executor, PlainReporter
from modelmill.steps.basic_cleaning import clean
from modelmill.steps.data_split import stratify_column
from tests.conftest import REAL_SAMPLE

NYC = spec_from_config(compose())
CLEANING = NYC.cleaning_params()
S = "modelmill.steps"
GROUPS = {"Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"}


def test_demo_is_deterministic_and_has_the_real_columns() -> None:
    a, b = generate_listings(500, seed=7), generate_listings(500, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert tuple(a.columns) == COLUMNS
    assert not generate_listings(500, seed=8).equals(a)
    with pytest.raises(ValueError, match="rows"):
        generate_listings(0)


def test_demo_matches_the_calibration_statistics() -> None:
    df = generate_listings(20_000, seed=1)
    shares = df["neighbourhood_group"].value_counts(normalize=True)
    assert set(shares.index) == GROUPS
    assert 0.40 < shares["Manhattan"] < 0.47 and 0.38 < shares["Brooklyn"] < 0.45
    # reviews: missing last_review and reviews_per_month together, exactly when there are none
    missing = df["last_review"].isna()
    assert (missing == df["reviews_per_month"].isna()).all()
    assert (df.loc[missing, "number_of_reviews"] == 0).all()
    assert 0.17 < missing.mean() < 0.24
    assert df["name"].isna().sum() >= 1 and df["id"].is_unique
    assert df["longitude"].between(-74.25, -73.5).all() and df["latitude"].between(40.5, 41.2).all()
    # price by room type ordered as in the real data; outliers present (0 and thousands)
    med = df.groupby("room_type")["price"].median()
    assert med["Entire home/apt"] > med["Private room"] > med["Shared room"]
    assert (df["price"] == 0).any() and (df["price"] >= 1000).any()


@pytest.mark.skipif(not REAL_SAMPLE.exists(), reason="real sample not present")
def test_demo_is_close_to_the_real_sample() -> None:
    real, demo = pd.read_csv(REAL_SAMPLE), generate_listings(16_068, seed=3)
    for col in ("price", "number_of_reviews", "availability_365", "minimum_nights"):
        assert abs(demo[col].median() - real[col].median()) <= 0.15 * real[col].median() + 2, col
    real_share = real["room_type"].value_counts(normalize=True)
    demo_share = demo["room_type"].value_counts(normalize=True)
    assert (real_share - demo_share).abs().max() < 0.02


def test_cleaning_rules_count_what_they_remove() -> None:
    df = generate_listings(300, seed=2)
    df.loc[0, "price"] = 5
    df.loc[1, "price"] = 10_000
    df.loc[2, "longitude"] = -75.0
    df.loc[3, "latitude"] = 42.0
    df.loc[5, "id"] = df.loc[4, "id"]
    cleaned, removed = clean(df, CLEANING)
    assert removed["duplicate_id"] == 1
    assert removed["box_nyc"] == 2
    assert removed["range_price"] == int((~df["price"].between(10, 350)).sum())
    assert cleaned["price"].between(10, 350).all() and cleaned["id"].is_unique
    assert len(cleaned) == len(df) - sum(removed.values())
    parsed = pd.to_datetime(cleaned["last_review"].dropna(), format="%Y-%m-%d")
    assert len(parsed) == cleaned["last_review"].notna().sum()


def test_stratify_column_forms() -> None:
    df = generate_listings(200, seed=3)
    assert stratify_column(df, "none") is None
    assert stratify_column(df, "neighbourhood_group") is not None
    with pytest.raises(ConfigError, match="not a column"):
        stratify_column(df, "borough")


def _source(sample: str, **extra: object) -> dict[str, object]:
    """get_data's params as the tabular pipeline builds them for the NYC spec."""
    return {"sample": sample, **extra, "columns": CLEANING["columns"], "extra_columns": "error", "id": "id"}


def _pipeline(sample: str, **extra: object) -> Pipeline:
    params = _source(sample, **extra)
    if sample == "demo":
        params["demo"] = NYC.demo
    return Pipeline([
        step("get_data", f"{S}.get_data:run", outputs={"sample.csv": "raw_data"}, params=params),
        step("basic_cleaning", f"{S}.basic_cleaning:run", inputs=["sample.csv"],
             outputs={"clean_sample.csv": "clean_sample"}, params=CLEANING),
        step("data_split", f"{S}.data_split:run", inputs=["clean_sample.csv"],
             outputs={"trainval_data.csv": "trainval_data", "test_data.csv": "test_data"},
             params={**NYC.split_params(), "test_size": 0.25, "seed": 1,
                     "stratify": "neighbourhood_group"}),
    ])  # fmt: skip


def _run(ws: Workspace, pipeline: Pipeline):  # type: ignore[no-untyped-def]
    import io

    return Executor(ws, reporter=PlainReporter(io.StringIO())).run(pipeline)


def test_demo_source_through_split(workspace: Workspace) -> None:
    summary = _run(workspace, _pipeline("demo", demo_rows=800, demo_seed=5))
    assert summary.status == "success", summary.steps
    store = workspace.store
    raw = read_listings(store.path("sample.csv"))
    clean_df = read_listings(store.path("clean_sample.csv"))
    test = read_listings(store.path("test_data.csv"))
    trainval = read_listings(store.path("trainval_data.csv"))
    assert len(raw) == 800 and len(clean_df) < 800
    assert len(test) + len(trainval) == len(clean_df)
    assert abs(len(test) - 0.25 * len(clean_df)) <= 1
    assert set(test["id"]).isdisjoint(trainval["id"])
    assert store.resolve("clean_sample.csv").metadata["removed"]["range_price"] > 0
    assert summary.metrics["clean_rows"] == len(clean_df)


def test_local_csv_and_parquet_sources(workspace: Workspace, tmp_path: Path) -> None:
    frame = generate_listings(300, seed=9)
    write_csv(frame, tmp_path / "batch.csv")
    frame.to_parquet(tmp_path / "batch.parquet")
    for source in ("batch.csv", "batch.parquet"):
        summary = _run(workspace, _pipeline(str(tmp_path / source)))
        assert summary.status == "success", summary.steps
        got = read_listings(workspace.store.path("sample.csv"))
        assert list(got["id"]) == list(frame["id"])


def test_missing_local_file_fails_the_step_with_the_fix(workspace: Workspace, tmp_path: Path) -> None:
    summary = _run(workspace, _pipeline(str(tmp_path / "nope.csv")))
    assert summary.status == "failed"
    assert "no such file" in summary.steps[0].error and "demo" in summary.steps[0].error
    assert workspace.store.versions() == []


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server serving a temp directory."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def test_url_source_always_runs_but_dedups(workspace: Workspace, http_dir: tuple[str, Path]) -> None:
    base, root = http_dir
    write_csv(generate_listings(300, seed=4), root / "listings.csv")
    from modelmill.pipelines.tabular import _source_params

    class Etl:
        sample = f"{base}/listings.csv"

    params, cacheable = _source_params(Etl, NYC)
    assert not cacheable
    params = _source(params["sample"])
    first = _run(workspace, _pipeline(Etl.sample))
    assert first.status == "success", first.steps
    pipeline = Pipeline([
        step("get_data", "modelmill.steps.get_data:run", outputs={"sample.csv": "raw_data"},
             params=params, cache=False),
    ])  # fmt: skip
    again = _run(workspace, pipeline)
    assert again.steps[0].status == "ran" and "cache=False" in again.steps[0].reason
    assert again.steps[0].outputs == ["sample.csv:v0"]  # same bytes: no new version


def test_unreadable_source_is_a_usage_error(tmp_path: Path) -> None:
    from modelmill.steps.get_data import _read_source

    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(UsageError, match="could not be read"):
        _read_source(str(tmp_path / "bad.parquet"))
