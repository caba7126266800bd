"""Spec inference (modelmill.datasets.infer/draft/sample/spec_yaml) on real tables shipped inside
installed packages (scikit-learn, vega_datasets, statsmodels) and on small tables made here."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from modelmill.core.errors import UsageError
from modelmill.datasets.draft import DraftSpec, draft_spec
from modelmill.datasets.parse import parse_boolean, parse_number
from modelmill.datasets.sample import read_sample
from modelmill.datasets.spec_yaml import render_spec

pytestmark = pytest.mark.filterwarnings("ignore:The 'convert_dates' keyword:DeprecationWarning")
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def diabetes_csv(path: Path) -> Path:
    """scikit-learn's bundled raw diabetes table (no header, space-separated) with its target."""
    sklearn = pytest.importorskip("sklearn")
    data = Path(sklearn.__file__).parent / "datasets" / "data"
    frame = pd.read_csv(data / "diabetes_data_raw.csv.gz", sep=" ", header=None, names=DIABETES)
    with gzip.open(data / "diabetes_target.csv.gz", "rt") as handle:
        frame["progression"] = np.loadtxt(handle)
    frame.to_csv(path, index=False)
    return path


def cars_csv(path: Path) -> Path:
    """vega_datasets' local ``cars`` table (read from the installed package) as a CSV."""
    local = pytest.importorskip("vega_datasets").local_data
    local.cars().to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def weather_csv(path: Path) -> Path:
    local = pytest.importorskip("vega_datasets").local_data
    local.seattle_weather().to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def statsmodels_csv(name: str) -> Path:
    datasets = pytest.importorskip("statsmodels.datasets")
    return Path(datasets.__file__).parent / name / f"{name}.csv"


def draft_of(path: Path, target: str, **kwargs: object) -> DraftSpec:
    sample = read_sample(path)
    draft = draft_spec(sample.frame, name=path.stem, target=target, truncated=sample.truncated, **kwargs)  # type: ignore[arg-type]
    draft.validated()  # the spec validates as a DatasetSpec
    text = render_spec(draft, str(path))
    assert yaml.safe_load(text) == draft.as_dict()  # the commented YAML reads back as inferred
    return draft


def roles(draft: DraftSpec) -> dict[str, str]:
    return {c.name: c.role for c in draft.columns}


def test_cars_roles_as_a_person_would_pick(tmp_path: Path) -> None:
    draft = draft_of(cars_csv(tmp_path / "cars.csv"), "Miles_per_Gallon")
    found = roles(draft)
    assert draft.task == "regression" and draft.split["stratify"] is None
    assert found["Origin"] == "categorical" and found["Name"] == "text" and found["Year"] == "date"
    assert draft.column("Year").entry["format"] == "%Y-%m-%d"
    assert found["Cylinders"] == "count" and found["Acceleration"] == "numeric"
    horsepower = draft.column("Horsepower")  # 6 cars without horsepower
    assert horsepower.entry["nullable"] is True and "6 missing" in horsepower.reason
    assert "3 distinct values in 406 rows" in draft.column("Origin").reason
    assert draft.id is None
    assert "kind: time, column: Year" in draft.hints["split"] and "Origin" in draft.hints["group"]


def test_diabetes_is_regression_on_numbers(tmp_path: Path) -> None:
    draft = draft_of(diabetes_csv(tmp_path / "diabetes.csv"), "progression")
    assert draft.task == "regression" and draft.rows == 442
    assert all(role in ("numeric", "count") for name, role in roles(draft).items() if name != "sex")
    assert roles(draft)["sex"] == "categorical" and "two codes (1, 2)" in draft.column("sex").reason
    assert draft.as_dict()["columns"]["sex"] == {"role": "categorical", "type": "integer"}
    assert "so task regression" in draft.task_reason


def test_statsmodels_tables(tmp_path: Path) -> None:
    fair = draft_of(statsmodels_csv("fair"), "affairs")
    assert fair.task == "regression" and roles(fair)["rate_marriage"] == "count"
    star = draft_of(statsmodels_csv("star98"), "MATHTOT")
    assert star.task == "regression" and set(roles(star).values()) == {"numeric"}


def test_weather_target_is_multiclass_and_stratified(tmp_path: Path) -> None:
    draft = draft_of(weather_csv(tmp_path / "seattle-weather.csv"), "weather")
    assert draft.task == "multiclass" and draft.split["stratify"] == "weather"
    assert draft.column("weather").entry == {"role": "categorical"}
    assert "5 classes (drizzle, fog, rain, snow, sun)" in draft.task_reason
    assert roles(draft)["date"] == "date"
    binary = draft_of(tmp_path / "seattle-weather.csv", "weather", task="multiclass")
    assert binary.task_reason.endswith("(--task)")


def small_table(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    days = rng.integers(1, 29, n)
    return pd.DataFrame({
        "listing_id": [f"L{i:05d}" for i in range(n)],
        "Unnamed: 0": np.arange(n),
        "host_id": rng.permutation(n) + 1000,
        "amount": [f"${v:,.2f}" for v in rng.uniform(500, 5000, n)],
        "rate": [f"{v:.1f}%" for v in rng.uniform(0, 60, n)],
        "member": rng.choice(["Yes", "No"], n),
        "flag": rng.choice([0, 1], n),
        "visits": [f"{v:,}" for v in rng.integers(1000, 100_000, n)],
        "when": [f"{d:02d}/{m:02d}/2020" for d, m in zip(days, rng.integers(1, 13, n), strict=True)],
        "city": rng.choice(["Lyon", "Paris", "Nice"], n),
        "code": [f"K{v}" for v in rng.integers(0, n // 2, n)],
        "const": ["x"] * n,
        "empty": [None] * n,
        "y": rng.normal(size=n),
    })  # fmt: skip


def test_strings_parse_as_people_write_them(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    frame = small_table()
    frame.to_csv(path, index=False)
    draft = draft_of(path, "y")
    entry = {c.name: c.entry for c in draft.columns}
    assert entry["amount"] == {"role": "numeric", "parse": "currency"}
    assert entry["rate"] == {"role": "numeric", "parse": "percent"}
    assert entry["member"] == {"role": "boolean", "parse": "boolean"}
    assert entry["flag"] == {"role": "boolean", "parse": "boolean"}
    assert entry["visits"] == {"role": "count", "parse": "number", "thousands": ","}
    assert entry["when"] == {"role": "date", "format": "%d/%m/%Y"}
    assert entry["city"] == {"role": "categorical"}
    # the rules inferred are the ones cleaning parses with (modelmill.datasets.parse)
    amounts, bad = parse_number(frame["amount"], style="currency")
    assert not bad.any() and amounts.between(500, 5000).all()
    assert not parse_boolean(frame["member"], ("yes",), ("no",))[1].any()
    reasons = {c.name: c.reason for c in draft.columns}
    assert reasons["const"].startswith("constant: one value ('x')") and entry["const"]["role"] == "ignore"
    assert reasons["empty"].startswith("empty") and entry["empty"]["role"] == "ignore"
    assert entry["Unnamed: 0"]["role"] == "ignore" and "identifier" in reasons["Unnamed: 0"]
    assert entry["host_id"]["role"] == "ignore"  # unique, named like an id
    assert entry["code"]["role"] == "ignore" and reasons["code"].startswith("too many categories")
    assert draft.id == "listing_id"  # the id: unique text named like an id


def test_a_few_unparsable_values_are_tolerated_and_named(tmp_path: Path) -> None:
    frame = small_table(400)[["amount", "city", "y"]]
    frame.loc[[5, 9], "amount"] = "call us"
    guess = draft_spec(frame, name="t", target="y").column("amount")
    assert guess.entry["parse"] == "currency" and "2 values do not parse ('call us')" in guess.reason
    frame.loc[:100, "amount"] = "call us"  # a quarter of the cells: text, not money
    assert draft_spec(frame, name="t", target="y").column("amount").role != "numeric"


def test_targets_and_tasks() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "yes_no": rng.choice(["yes", "no"], 200),
                          "grade": rng.integers(1, 5, 200), "score": rng.normal(size=200)})  # fmt: skip
    assert draft_spec(frame, name="t", target="yes_no").task == "binary"
    grade = draft_spec(frame, name="t", target="grade")
    assert grade.task == "multiclass" and grade.column("grade").entry == {
        "role": "categorical",
        "type": "integer",
    }
    assert draft_spec(frame, name="t", target="grade", task="regression").task == "regression"
    assert draft_spec(frame, name="t", target="score").task == "regression"
    draft_spec(frame, name="t", target="yes_no", task="binary").validated()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "scor"}, "--target 'scor' is not a column of the table; did you mean: score?"),
        ({"target": "const"}, "--target 'const' has one value ('k')"),
        ({"target": "label", "task": "regression"}, "--task regression: the target 'label' is not numeric"),
        ({"target": "label", "task": "binary"}, "--task binary: the target 'label' has 3 classes, not 2"),
        ({"target": "score", "task": "classification"}, "--task 'classification': expected one of"),
        ({"target": "score", "id_column": "label"}, "--id 'label' has repeated values"),
        ({"target": "score", "id_column": "score"}, "--id 'score' is the target"),
        ({"target": "words"}, "neither a number (regression) nor class labels"),
    ],
)
def test_refusals_are_one_line(kwargs: dict[str, str], message: str) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"score": rng.normal(size=120), "label": rng.choice(["a", "b", "c"], 120),
                          "const": ["k"] * 120, "words": [f"w{i}" for i in range(120)]})  # fmt: skip
    with pytest.raises(UsageError) as caught:
        draft_spec(frame, name="t", **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_nothing_to_learn_from_is_refused() -> None:
    frame = pd.DataFrame({"id": np.arange(50), "y": np.arange(50) * 1.5, "same": [1] * 50})
    with pytest.raises(UsageError, match="no column to learn from"):
        draft_spec(frame, name="t", target="y")


def test_large_csv_is_sampled(tmp_path: Path) -> None:
    """The head of the file is read (and the rest estimated from its size), never the whole."""
    path = tmp_path / "big.csv"
    rows = 30_000
    rng = np.random.default_rng(2)
    pd.DataFrame({"id": np.arange(rows), "x": rng.normal(size=rows), "cat": rng.choice(list("abc"), rows),
                  "y": rng.normal(size=rows)}).to_csv(path, index=False)  # fmt: skip
    sample = read_sample(path, max_rows=2_000)
    assert sample.rows == 2_000 and sample.truncated and sample.total_rows is None
    assert 0.8 * rows < sample.estimated_rows < 1.2 * rows
    whole = read_sample(path, max_rows=rows)
    assert not whole.truncated and whole.total_rows == rows
    parquet = tmp_path / "big.parquet"
    pd.read_csv(path).to_parquet(parquet, row_group_size=5_000)
    sampled = read_sample(parquet, max_rows=2_000)
    assert sampled.rows == 2_000 and sampled.truncated and sampled.total_rows == rows


@pytest.mark.slow
def test_million_row_csv_infers_in_seconds(tmp_path: Path) -> None:
    path = tmp_path / "million.csv"
    rows = 1_000_000
    rng = np.random.default_rng(4)
    pd.DataFrame({"id": np.arange(rows), "x": rng.normal(size=rows), "cat": rng.choice(list("abcde"), rows),
                  "amount": np.char.add("$", rng.integers(10, 9999, rows).astype(str)),
                  "y": rng.normal(size=rows)}).to_csv(path, index=False)  # fmt: skip
    started = time.perf_counter()
    sample = read_sample(path)
    draft = draft_spec(sample.frame, name="million", target="y", truncated=sample.truncated)
    seconds = time.perf_counter() - started
    assert sample.truncated and draft.column("amount").entry["parse"] == "currency"
    assert seconds < 10, seconds  # about 1 s on 2 cores


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_sample(tmp_path / "absent.csv")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(UsageError, match=r"use a \.csv or \.parquet file"):
        read_sample(tmp_path / "t.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UsageError, match="empty"):
        read_sample(tmp_path / "empty.csv")
    (tmp_path / "dup.csv").write_text("a,a,b\n1,2,3\n")
    with pytest.raises(UsageError, match="distinct"):
        read_sample(tmp_path / "dup.csv")
