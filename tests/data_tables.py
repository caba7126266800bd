"""Real tables other than NYC for the data-stage tests, read from files inside installed packages
(never downloaded, never committed), with the small dataset specs that declare them."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd


def cars() -> pd.DataFrame:
    """vega_datasets' cars (406 rows): a date column (Year), a category (Origin), missing values."""
    from vega_datasets import data

    with warnings.catch_warnings():  # vega_datasets passes a read_json keyword pandas deprecates
        warnings.simplefilter("ignore")
        return data.cars()


CARS_SPEC: dict[str, Any] = {
    "name": "cars",
    "target": "Miles_per_Gallon",
    "group": "Origin",
    "columns": {
        "Name": {"role": "ignore"},
        "Miles_per_Gallon": {"role": "numeric", "range": [5, 60]},
        "Cylinders": {"role": "count", "range": [3, 8]},
        "Displacement": {"role": "numeric"},
        "Horsepower": {"role": "numeric", "nullable": True},
        "Weight_in_lbs": {"role": "count"},
        "Acceleration": {"role": "numeric"},
        "Year": {"role": "date", "range": ["1970-01-01", "today"]},
        "Origin": {"role": "categorical", "allowed": "reference"},
    },
    "cleaning": {"extra_columns": "error"},
    "split": {"kind": "time", "column": "Year", "test_size": 0.2},
}


def diabetes() -> pd.DataFrame:
    """scikit-learn's bundled diabetes table (442 rows, raw units), its target as ``progression``."""
    from importlib import resources

    root = resources.files("sklearn.datasets") / "data"
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    with resources.as_file(root / "diabetes_data_raw.csv.gz") as path:
        frame = pd.read_csv(path, sep=" ", header=None, names=names)
    with resources.as_file(root / "diabetes_target.csv.gz") as path:
        frame["progression"] = pd.read_csv(path, header=None).iloc[:, 0].to_numpy()
    return frame


DIABETES_SPEC: dict[str, Any] = {
    "name": "diabetes",
    "target": "progression",
    "columns": {
        "age": {"role": "count", "range": [18, 100]},
        "sex": {"role": "categorical", "type": "integer", "allowed": [1, 2]},
        **{c: {"role": "numeric"} for c in ("bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")},
        "progression": {"role": "numeric", "range": [0, 400]},
    },
}


def seattle_weather() -> pd.DataFrame:
    """vega_datasets' seattle-weather (1,461 days, shipped in the package): a date, four
    measurements and a weather category (``temp_max`` is the regression target of the project tests)."""
    from vega_datasets import data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = data.seattle_weather()
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")  # as a CSV spells it
    return frame


def grunfeld() -> pd.DataFrame:
    """statsmodels' grunfeld (220 firm-years, the package's own CSV): investment of ten US firms,
    a text category (``firm``) and the year as a number."""
    import statsmodels.datasets

    return statsmodels.datasets.grunfeld.load_pandas().data.copy()


def fair() -> pd.DataFrame:
    """statsmodels' fair (6,366 survey answers, the package's own CSV): coded answers as numbers,
    ``affairs`` (a skewed, mostly-zero number) the target. The benchmark's larger table."""
    import statsmodels.datasets

    return statsmodels.datasets.fair.load_pandas().data.copy()


# the public tables the project tests and benchmark run `modelmill init` on: loader and target
PROJECT_TABLES: dict[str, tuple[Any, str]] = {
    "diabetes": (diabetes, "progression"),
    "cars": (cars, "Miles_per_Gallon"),
    "seattle_weather": (seattle_weather, "temp_max"),
    "grunfeld": (grunfeld, "invest"),
}


def breast_cancer() -> pd.DataFrame:
    """scikit-learn's bundled breast cancer table (569 rows, 30 measurements): ``diagnosis`` is
    ``malignant`` or ``benign`` (labels as text, the positive class ``malignant``)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    frame["diagnosis"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def anes96() -> pd.DataFrame:
    """statsmodels' anes96 (944 answers of the 1996 American National Election Study, the
    package's own CSV): ``vote`` is 0 (Clinton) or 1 (Dole), labels as integers."""
    import statsmodels.datasets

    frame = statsmodels.datasets.anes96.load_pandas().data.copy()
    frame["vote"] = frame["vote"].astype("int64")
    return frame.drop(columns=["logpopul"])  # log of popul: the same information twice


def wine() -> pd.DataFrame:
    """scikit-learn's bundled wine table (178 rows, 13 measurements, 3 cultivars): ``cultivar``
    is ``class_0``, ``class_1`` or ``class_2`` (multiclass)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    names = load_wine().target_names
    frame["cultivar"] = frame.pop("target").map(dict(enumerate(names)))
    return frame


# the public classification tables: loader and target
CLASSIFICATION_TABLES: dict[str, tuple[Any, str]] = {
    "breast_cancer": (breast_cancer, "diagnosis"),
    "anes96": (anes96, "vote"),
    "wine": (wine, "cultivar"),
}


def rare_affairs() -> pd.DataFrame:
    """statsmodels' fair survey as an imbalanced binary table: ``affair`` is ``yes`` for 1% of
    the rows (every ``no`` row and the first ``yes`` rows in file order, 4,357 rows in all)."""
    frame = fair()
    frame["affair"] = (frame.pop("affairs") > 0).map({True: "yes", False: "no"})
    no = frame[frame["affair"] == "no"]
    yes = frame[frame["affair"] == "yes"].head(round(len(no) / 99))
    return pd.concat([no, yes]).sort_index().reset_index(drop=True)
