"""The inference pipeline, generated from the dataset spec: raw columns in, a prediction out.

Everything a production request needs (imputation, encoding, date and text features) is
inside the fitted pipeline, so serving applies exactly what training applied::

    Pipeline([("columns", EnsureColumns()),      # absent columns become missing values
              ("preprocessor", ColumnTransformer([...])),
              ("float32", AsFloat32()),          # the precision of the ONNX graph
              (FAMILY, estimator)])

The ``ColumnTransformer`` has one block per run of consecutive input columns (the spec's
``features`` order) that get the same treatment; a block of one column is named after it,
a longer one after its treatment (``numeric``, ``categorical``, ...). Treatments by role:

* ``numeric``/``count``: a ``SimpleImputer`` (``impute``: zero, mean, median, most_frequent,
  constant with ``fill_value``, or none: NaN reaches the model);
* ``categorical``: :class:`CategoryText`, an optional imputer (most_frequent, constant), then
  ``encode``: ``onehot``, ``ordinal`` (unknown and missing are -1) or ``native`` (ordinal
  codes the model splits on as sets: HistGradientBoosting's ``categorical_features``);
* ``ordinal``: :class:`CategoryText` then an ``OrdinalEncoder`` with the declared ``order``;
* ``boolean``: :class:`AsBoolean` (0/1), then the numeric imputers;
* ``date``: :class:`DaysSince` the latest training date (``impute: constant`` with an ISO
  ``fill_value`` substitutes that date), then the numeric imputers;
* ``text``: :class:`TextColumn` + ``TfidfVectorizer`` with the column's ``tfidf`` settings.

What the spec leaves open, the model family decides (:class:`~modelmill.features.estimators.Family`):
numbers without ``impute`` stay NaN for a family that handles missing values (median
otherwise), categories without ``encode`` are ``native`` where the family splits on
categories (``onehot`` otherwise). Native categorical blocks come first in the matrix: the
estimator takes their column positions before it is fitted, and every other block's width
(one-hot, TF-IDF) is only known after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelmill.core.errors import ConfigError
from modelmill.features.estimators import (
    DEFAULT,
    Family,
    build_estimator,
    family,
    fitted_estimator,
    with_target_transform,
)
from modelmill.features.transformers import (
    AsBoolean,
    AsFloat32,
    CategoryText,
    DaysSince,
    EnsureColumns,
    TextColumn,
)

NUMERIC_ROLES = ("numeric", "count")
NUMERIC_IMPUTES = ("zero", "mean", "median", "most_frequent", "constant", "none")
CATEGORY_IMPUTES = ("most_frequent", "constant", "none")
# HistGradientBoosting takes at most max_bins (255) categories per column: our encoder keeps
# the 254 most frequent (the rest share one code) and gives -1 to unknown and missing values
MAX_NATIVE_CATEGORIES = 254


@dataclass(frozen=True)
class Block:
    """One ``ColumnTransformer`` part: a treatment and the run of columns it applies to."""

    label: str  # what a block of several columns is named after (numeric, categorical, ...)
    key: tuple[Any, ...]  # equal keys on consecutive columns share one block
    columns: tuple[str, ...]
    native: bool = False  # ordinal codes the estimator splits on as categories

    @property
    def name(self) -> str:
        return self.columns[0] if len(self.columns) == 1 else self.label


def input_features(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spec's input columns from the train step's params (``features_params()``)."""
    features = params.get("features")
    if not isinstance(features, Sequence) or not features:
        raise ConfigError(
            "the train params have no 'features' (the dataset spec's input columns): build the "
            "params with DatasetSpec.features_params()"
        )
    return [dict(f) for f in features]


def _impute(feature: Mapping[str, Any], allowed: Sequence[str], default: str) -> str:
    impute = feature.get("impute") or default
    if impute not in allowed:
        raise ConfigError(
            f"dataset spec: column '{feature['name']}' ({feature['role']}): impute: {impute} is not "
            f"available for this role; use one of {', '.join(allowed)}"
        )
    return str(impute)


def _key_of(feature: Mapping[str, Any], chosen: Family) -> tuple[str, tuple[Any, ...], bool]:
    """``(label, key, native)`` of one column's treatment."""
    role, fill = feature["role"], feature.get("fill_value")
    numeric_default = "none" if chosen.native_missing else "median"
    if role in NUMERIC_ROLES:
        return "numeric", ("numeric", _impute(feature, NUMERIC_IMPUTES, numeric_default), fill), False
    if role == "boolean":
        default = "none" if chosen.native_missing else "most_frequent"
        impute = _impute(feature, NUMERIC_IMPUTES, default)
        words = (tuple(feature.get("true_values") or ()), tuple(feature.get("false_values") or ()))
        return "boolean", ("boolean", impute, fill, words), False
    if role == "date":
        impute = _impute(feature, NUMERIC_IMPUTES, numeric_default)
        return "date", ("date", impute, fill, feature.get("format")), False
    if role == "categorical":
        impute = _impute(feature, CATEGORY_IMPUTES, "none")
        encode = feature.get("encode") or ("native" if chosen.native_categories else "onehot")
        native = encode == "native" and chosen.native_categories
        encode = "ordinal" if encode == "native" and not native else encode
        return "categorical", ("categorical", impute, fill, encode), native
    if role == "ordinal":
        order = tuple(feature.get("order") or ())
        return "ordinal", ("ordinal", _impute(feature, CATEGORY_IMPUTES, "none"), fill, order), False
    if role == "text":
        return "text", ("text", feature["name"]), False  # one vectorizer per column
    raise ConfigError(
        f"dataset spec: column '{feature['name']}' has role {role!r}, which is not an input role"
    )


def plan_blocks(features: Sequence[Mapping[str, Any]], chosen: Family) -> list[Block]:
    """The blocks, native categorical ones first, the rest in the spec's order."""
    runs: list[Block] = []
    for feature in features:
        label, key, native = _key_of(feature, chosen)
        if runs and runs[-1].key == key and key[0] != "text":
            last = runs[-1]
            runs[-1] = Block(last.label, key, (*last.columns, str(feature["name"])), native)
        else:
            runs.append(Block(label, key, (str(feature["name"]),), native))
    return [b for b in runs if b.native] + [b for b in runs if not b.native]


def _imputer(impute: str, fill: Any, text: bool = False) -> Any:
    """The ``SimpleImputer`` of ``impute`` (``None`` for ``none``); text blocks mark missing as ``""``."""
    from sklearn.impute import SimpleImputer

    if impute == "none":
        return None
    missing: dict[str, Any] = {"missing_values": ""} if text else {}
    if impute == "zero":
        return SimpleImputer(strategy="constant", fill_value=0, **missing)
    if impute == "constant":
        return SimpleImputer(strategy="constant", fill_value=str(fill) if text else fill, **missing)
    return SimpleImputer(strategy=impute, **missing)


def _chain(*steps: Any) -> Any:
    """One step as itself, several as a pipeline (``None`` steps left out)."""
    from sklearn.pipeline import make_pipeline

    present = [s for s in steps if s is not None]
    if not present:
        return "passthrough"
    return present[0] if len(present) == 1 else make_pipeline(*present)


def _transformer(block: Block, features: Mapping[str, Mapping[str, Any]], max_categories: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    kind = block.key[0]
    impute, fill_value = (str(block.key[1]), block.key[2]) if kind != "text" else ("none", None)
    codes = {"handle_unknown": "use_encoded_value", "unknown_value": -1, "encoded_missing_value": -1}
    if kind == "numeric":
        return _chain(_imputer(impute, fill_value))
    if kind == "boolean":
        true_values, false_values = block.key[3]
        return _chain(AsBoolean(true_values, false_values), _imputer(impute, fill_value))
    if kind == "date":
        if impute == "constant":
            return DaysSince(missing_date=str(fill_value), format=block.key[3])
        return _chain(DaysSince(format=block.key[3]), _imputer(impute, fill_value))
    if kind == "categorical":
        encode = block.key[3]
        if block.native:
            encoder: Any = OrdinalEncoder(**codes, max_categories=max_categories)
        elif encode == "onehot":
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        else:
            encoder = OrdinalEncoder(**codes)
        return _chain(CategoryText(), _imputer(impute, fill_value, text=True), encoder)
    if kind == "ordinal":
        order = [str(v) for v in block.key[3]]
        encoder = OrdinalEncoder(categories=[order] * len(block.columns), **codes)
        return _chain(CategoryText(), _imputer(impute, fill_value, text=True), encoder)
    feature = features[block.columns[0]]
    tfidf = dict(feature.get("tfidf") or {})
    fill_text = str(feature.get("fill_value")) if feature.get("impute") == "constant" else ""
    vectorizer = TfidfVectorizer(
        binary=bool(tfidf.get("binary", False)), max_features=int(tfidf.get("max_features", 100)),
        stop_words=tfidf.get("stop_words"), ngram_range=(1, int(tfidf.get("ngram_max", 1))),
    )  # fmt: skip
    return _chain(TextColumn(fill_value=fill_text), vectorizer)


def _unique_names(blocks: Sequence[Block]) -> list[str]:
    names: list[str] = []
    for block in blocks:
        base = block.name.replace("__", "_") or block.label
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def build_preprocessor(
    features: Sequence[Mapping[str, Any]], chosen: Family, max_categories: int = MAX_NATIVE_CATEGORIES
) -> tuple[Any, list[int]]:
    """The ``ColumnTransformer`` (a dense numeric matrix) and the matrix positions of native
    categorical columns (the first ones, see the module docstring)."""
    from sklearn.compose import ColumnTransformer

    by_name = {str(f["name"]): f for f in features}
    blocks = plan_blocks(features, chosen)
    parts = [
        (name, _transformer(block, by_name, max_categories), list(block.columns))
        for name, block in zip(_unique_names(blocks), blocks, strict=True)
    ]
    native = sum(len(b.columns) for b in blocks if b.native)
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0), list(range(native))


def build_inference_pipeline(params: Mapping[str, Any]) -> Any:
    """``Pipeline([columns, preprocessor, float32, FAMILY])`` from the train step's params.

    ``params``: the spec's ``features`` (``DatasetSpec.features_params()``), ``random_seed``,
    ``estimator`` (default ``random_forest``), the family's keyword arguments under its name
    and ``target_transform`` (default ``none``: else a ``TransformedTargetRegressor``); with
    ``task`` ``binary``/``multiclass``, the family's classifier, given ``class_weight``.
    """
    from sklearn.pipeline import Pipeline

    name = str(params.get("estimator", DEFAULT))
    if name not in params:
        raise ConfigError(f"the train params have no '{name}' section (the estimator's keyword arguments)")
    chosen = family(name)
    kwargs = dict(params[name] or {})
    max_categories = int(kwargs.get("max_bins", MAX_NATIVE_CATEGORIES + 1)) - 1
    preprocessor, categorical = build_preprocessor(input_features(params), chosen, max_categories)
    classifier = str(params.get("task", "regression")) != "regression"
    model = build_estimator(name, kwargs, int(params["random_seed"]), categorical, classifier=classifier,
                            class_weight=params.get("class_weight"))  # fmt: skip
    return Pipeline(
        [
            ("columns", EnsureColumns()),
            ("preprocessor", preprocessor),
            ("float32", AsFloat32()),
            (name, with_target_transform(model, str(params.get("target_transform", "none")))),
        ]
    )


def used_columns(pipeline: Any) -> list[str]:
    """The raw columns a fitted pipeline reads, in its blocks' order."""
    columns: list[str] = []
    for _, transformer, selected in pipeline.named_steps["preprocessor"].transformers_:
        if transformer != "drop" and isinstance(selected, list | tuple):
            columns += [str(c) for c in selected if str(c) not in columns]
    return columns


def text_blocks(preprocessor: Any) -> dict[str, str]:
    """Block name -> text column, for the blocks that vectorize a text column."""
    from sklearn.pipeline import Pipeline

    out = {}
    for name, transformer, selected in preprocessor.transformers_:
        if isinstance(transformer, Pipeline) and isinstance(transformer.steps[0][1], TextColumn):
            out[name] = str(selected[0])
    return out


def grouped_importances(pipeline: Any) -> dict[str, float]:
    """Impurity importances per output feature, a text column's TF-IDF columns summed into it.

    Keys are the feature names without the ``block__`` prefix (one-hot columns keep their
    category, e.g. ``colour_red``); sorted by importance, largest first.
    """
    names: Sequence[str] = pipeline[:-1].get_feature_names_out()
    texts = text_blocks(pipeline.named_steps["preprocessor"])
    importances = np.asarray(fitted_estimator(pipeline).feature_importances_, dtype=float)
    grouped: dict[str, float] = {}
    for full, value in zip(names, importances, strict=True):
        block, _, feature = str(full).partition("__")
        key = texts.get(block, feature)
        grouped[key] = grouped.get(key, 0.0) + float(value)
    return dict(sorted(grouped.items(), key=lambda kv: kv[1], reverse=True))
