"""The inference pipeline: raw listing columns in, a price out.

Everything a production request needs (imputation, encoding, date and text features)
is inside the fitted pipeline, so serving applies exactly what training applied.
A leading :class:`EnsureColumns` adds absent columns as missing values, so every input
column may be omitted or null. Columns the pipeline does not use (``id``, ``host_id``,
``host_name``, ``neighbourhood``, ...) are dropped by the ``ColumnTransformer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelmill.core.errors import ConfigError
from modelmill.features.estimators import DEFAULT, build_estimator, fitted_estimator, with_target_transform
from modelmill.features.transformers import AsFloat32, DaysSinceReview, EnsureColumns, TextColumn

TARGET = "price"
ORDINAL_CATEGORICAL = ("room_type",)
NOMINAL_CATEGORICAL = ("neighbourhood_group",)
ZERO_IMPUTED = (
    "minimum_nights", "number_of_reviews", "reviews_per_month", "calculated_host_listings_count",
    "availability_365", "latitude", "longitude",
)  # fmt: skip
DATE_COLUMNS = ("last_review",)
TEXT_COLUMN = "name"
MISSING_DATE = "2010-01-01"
# the ColumnTransformer part that produces the TF-IDF columns (one "name" bar in plots)
TEXT_BLOCK = "name"


def used_columns() -> list[str]:
    """The raw columns the pipeline reads."""
    return [*ORDINAL_CATEGORICAL, *NOMINAL_CATEGORICAL, *ZERO_IMPUTED, *DATE_COLUMNS, TEXT_COLUMN]


def build_preprocessor(max_tfidf_features: int) -> Any:
    """The ``ColumnTransformer`` turning raw listing columns into a dense numeric matrix."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    room_type = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    neighbourhood_group = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    name = make_pipeline(
        TextColumn(fill_value=""),
        TfidfVectorizer(binary=True, max_features=int(max_tfidf_features), stop_words="english"),
    )
    return ColumnTransformer(
        [
            ("room_type", room_type, list(ORDINAL_CATEGORICAL)),
            ("neighbourhood_group", neighbourhood_group, list(NOMINAL_CATEGORICAL)),
            ("numeric", SimpleImputer(strategy="constant", fill_value=0), list(ZERO_IMPUTED)),
            ("last_review", DaysSinceReview(missing_date=MISSING_DATE), list(DATE_COLUMNS)),
            (TEXT_BLOCK, name, [TEXT_COLUMN]),
        ],
        remainder="drop",
        sparse_threshold=0.0,
    )


def build_inference_pipeline(params: Mapping[str, Any]) -> Any:
    """``Pipeline([columns, preprocessor, float32, FAMILY])`` from the train step's params.

    ``columns`` (:class:`EnsureColumns`) lets a request omit any column (it becomes
    missing values), ``preprocessor`` is :func:`build_preprocessor`, ``float32``
    (:class:`AsFloat32`) gives every family the feature precision of its ONNX graph, and the last step,
    named after the family, is :func:`~modelmill.features.estimators.build_estimator`
    (wrapped in a ``TransformedTargetRegressor`` when ``target_transform`` is not ``none``).

    ``params`` needs ``max_tfidf_features``, ``random_seed`` and the family's keyword
    arguments under its name; ``estimator`` (default ``random_forest``) and
    ``target_transform`` (default ``none``) are optional.
    """
    from sklearn.pipeline import Pipeline

    name = str(params.get("estimator", DEFAULT))
    if name not in params:
        raise ConfigError(f"the train params have no '{name}' section (the estimator's keyword arguments)")
    model = build_estimator(name, params[name], int(params["random_seed"]))
    return Pipeline(
        [
            ("columns", EnsureColumns()),
            ("preprocessor", build_preprocessor(int(params["max_tfidf_features"]))),
            ("float32", AsFloat32()),
            (name, with_target_transform(model, str(params.get("target_transform", "none")))),
        ]
    )


def grouped_importances(pipeline: Any) -> dict[str, float]:
    """Impurity importances per output feature, the TF-IDF columns summed into one ``name``.

    Keys are the feature names without the ``block__`` prefix (one-hot columns keep
    their category, e.g. ``neighbourhood_group_Queens``); sorted by importance, largest first.
    """
    names: Sequence[str] = pipeline[:-1].get_feature_names_out()
    importances = np.asarray(fitted_estimator(pipeline).feature_importances_, dtype=float)
    grouped: dict[str, float] = {}
    for full, value in zip(names, importances, strict=True):
        block, _, feature = str(full).partition("__")
        key = TEXT_COLUMN if block == TEXT_BLOCK else feature
        grouped[key] = grouped.get(key, 0.0) + float(value)
    return dict(sorted(grouped.items(), key=lambda kv: kv[1], reverse=True))
