"""The inference pipeline as an ONNX graph (skl2onnx), and the feeds that graph expects.

ONNX has no data frames, no ``None`` and no date parsing, so the boundary is drawn here:

* the graph has one input per raw column the pipeline reads, shape ``[N, 1]``, its kind
  (:class:`OnnxInput`) given by the first step of the column's block: categories are
  ``category`` strings (:func:`category_text`, ``""`` when missing), yes/no columns
  ``boolean`` floats (1/0, NaN), numbers ``float`` (missing is NaN), dates ``date``: double
  days since 1970-01-01 (NaN when missing or unparsable), and text that a TF-IDF step reads
  arrives as vocabulary indexes, ``int64 [N, L]`` (``tokens``, :mod:`modelmill.features.tokens`);
* :func:`feeds` turns a frame (columns may be absent, as :class:`EnsureColumns` allows)
  into those arrays, parsing values exactly as the pipeline's own transformers do;
* our own transformers get converters (:mod:`modelmill.features.onnx_converters`):
  :class:`TextColumn`, :class:`CategoryText` and :class:`AsBoolean` are identities on their
  feeds, :class:`DaysSince` is ``floor(reference - date)`` with the missing date
  substituted, HistGradientBoosting's categorical splits are set-membership tests, and a
  ``log1p`` :class:`TransformedTargetRegressor` becomes its regressor followed by ``exp(y) - 1``.

skl2onnx and onnx are the optional ``onnx`` extra: they are imported inside functions, and
so is scikit-learn: computing feeds (batch scoring, serving) imports neither (the value
helpers are in :mod:`modelmill.features.values`), which saves ~2 s of start-up. A
pipeline this module cannot convert raises :class:`OnnxConversionError`; callers keep
scikit-learn for it (see ``modelmill.registry.predictor``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from modelmill.core.errors import ModelmillError
from modelmill.features import onnx_classifier as classifiers
from modelmill.features.tokens import compiled_pattern, token_ids
from modelmill.features.values import boolean_values, category_text, category_texts, parse_dates

__all__ = ["OnnxConversionError", "OnnxInput", "feeds", "feeds_from_records", "graph_inputs", "to_onnx"]

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
KINDS = ("string", "float", "date", "tokens", "category", "boolean")
_STRINGS = ("string", "tokens", "category")
_EPOCH = np.datetime64("1970-01-01", "ns")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY = np.timedelta64(1, "D")


class OnnxConversionError(ModelmillError):
    """The fitted pipeline has a part with no ONNX converter (scikit-learn serves it instead)."""


@dataclass(frozen=True)
class OnnxInput:
    """One graph input: a raw column and how it is encoded (see :data:`KINDS` and the module docstring).

    ``date`` carries the column's ``format`` (dates that are not ISO), ``boolean`` its
    ``true_values``/``false_values``; ``string`` is text as ``str()`` gives it, the encoding
    of categories in graphs exported before ``category`` existed.

    ``tokens`` is text that a word-level TF-IDF step reads: the feed holds, per row, the
    vocabulary indexes of the tokens that the vectorizer's own ``token_pattern`` finds, as an
    ``int64 [N, L]`` matrix padded with -1 (:mod:`modelmill.features.tokens`), and the graph
    counts them. Tokenizing outside the graph keeps scikit-learn's exact semantics
    (onnxruntime's regex ``\\w`` is ASCII-only: it drops ``Café`` or ``空港``) and spares the
    graph its slowest string operators. (``string`` with a ``token_pattern``: space-joined
    tokens, the encoding of graphs exported before ``tokens`` existed.)
    """

    name: str
    kind: str
    token_pattern: str | None = None
    lowercase: bool = True
    vocabulary: tuple[str, ...] | None = None  # ``tokens``: the vectorizer's terms, by index
    format: str | None = None  # ``date``: strptime format of non-ISO dates
    true_values: tuple[str, ...] | None = None  # ``boolean``: the yes/no words
    false_values: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.token_pattern is not None:
            out |= {"token_pattern": self.token_pattern, "lowercase": self.lowercase}
        if self.vocabulary is not None:
            out["vocabulary"] = list(self.vocabulary)
        if self.format is not None:
            out["format"] = self.format
        if self.true_values is not None or self.false_values is not None:
            out |= {
                "true_values": list(self.true_values or ()),
                "false_values": list(self.false_values or ()),
            }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OnnxInput:
        if data.get("kind") not in KINDS:
            raise ValueError(f"unknown ONNX input kind {data.get('kind')!r} (known: {', '.join(KINDS)})")
        if data["kind"] == "tokens" and not (data.get("token_pattern") and data.get("vocabulary")):
            raise ValueError(f"ONNX input {data.get('name')!r} (tokens) needs token_pattern and vocabulary")
        pattern, vocabulary = data.get("token_pattern"), data.get("vocabulary")
        words = {k: tuple(str(w) for w in data[k]) for k in ("true_values", "false_values") if k in data}
        return cls(str(data["name"]), str(data["kind"]), pattern, bool(data.get("lowercase", True)),
                   tuple(vocabulary) if vocabulary is not None else None, data.get("format"),
                   **words)  # fmt: skip

    def encode(self, texts: Any) -> np.ndarray:
        """The feed of a text column (``texts``: 1-D ``str``, ``""`` for missing; for ``tokens``
        also an Arrow string array without nulls)."""
        if self.kind == "tokens":
            return token_ids(texts, self.token_pattern or "", self.vocabulary or (), self.lowercase)
        if self.token_pattern is None:
            return texts.reshape(-1, 1)
        find = compiled_pattern(self.token_pattern).findall
        lower = self.lowercase
        joined = [" ".join(find(t.lower() if lower else t)) for t in texts]
        return np.asarray(joined, dtype=object).reshape(-1, 1)


# ---------------------------------------------------------------------------------- feeds
def _text(values: pd.Series) -> np.ndarray:
    column = values.astype(object)
    filled = column.where(column.notna(), "").to_numpy(dtype=object)
    if pd.api.types.is_string_dtype(values.dtype):
        return filled
    return np.asarray([v if isinstance(v, str) else str(v) for v in filled], dtype=object)


def _arrow_text(values: pd.Series) -> Any:
    """An Arrow-backed text column (pandas' ``str``) as an Arrow array, ``""`` for missing: what
    :func:`_text` gives, without making a Python string per row (0.3 us a row)."""
    import pyarrow.compute as pc

    return pc.fill_null(_arrow_array(values), "")


def _arrow_array(values: pd.Series) -> Any:
    """An Arrow-backed column's values as one Arrow array (zero-copy unless pandas' is chunked)."""
    import pyarrow as pa

    arrow = pa.array(values.array)
    return arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow


def _categories(values: pd.Series) -> np.ndarray:
    return category_texts(values)  # what CategoryText.transform gives, without scikit-learn


def _days(values: pd.Series, format: str | None = None) -> np.ndarray:
    """Days from 1970-01-01, NaN where missing or unparsable. Arrow-backed text (batch scoring)
    has its ``YYYY-MM-DD`` dates read by the C kernel (0.05 us a row, pandas 0.4); pandas parses
    the rest, and everything without a compiler."""
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        from modelmill.features.text_kernel import iso_days

        fast = iso_days(_arrow_array(values))
        if fast is not None:
            days, done = fast
            if not done.all():
                days[~done] = _days(values[~done].astype(object), format)
            return days
    parsed = parse_dates(values, format)
    return ((parsed.to_numpy() - _EPOCH) / _DAY).astype(np.float64)  # NaT -> NaN


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)


def _encode(spec: OnnxInput, values: pd.Series) -> Any:
    """The 1-D feed values of one present column (before :meth:`OnnxInput.encode` for strings;
    an Arrow array for tokens of an Arrow-backed column)."""
    if spec.kind == "tokens" and isinstance(values.array, pd.arrays.ArrowStringArray):
        return _arrow_text(values)
    if spec.kind in ("string", "tokens"):
        return _text(values)
    if spec.kind == "category":
        return _categories(values)
    if spec.kind == "date":
        return _days(values, spec.format)
    if spec.kind == "boolean":
        flags = boolean_values(values.to_numpy(dtype=object), spec.true_values or (), spec.false_values or ())
        return flags.astype(np.float32)
    return _numbers(values)


_MISSING: dict[str, Any] = {"string": "", "date": np.nan, "float": np.nan, "boolean": np.nan}
_DTYPE: dict[str, Any] = {"string": object, "date": np.float64, "float": np.float32, "boolean": np.float32}


def _base(kind: str) -> str:
    return "string" if kind in _STRINGS else kind


def feeds(frame: pd.DataFrame, inputs: list[OnnxInput]) -> dict[str, np.ndarray]:
    """The ``session.run`` feeds for ``frame``: one ``[N, 1]`` array per input, absent columns missing."""
    rows = len(frame)
    out: dict[str, np.ndarray] = {}
    for spec in inputs:
        base = _base(spec.kind)
        if spec.name in frame.columns:
            array = _encode(spec, frame[spec.name])
        else:
            array = np.full(rows, _MISSING[base], dtype=_DTYPE[base])
        out[spec.name] = spec.encode(array) if base == "string" else array.reshape(rows, 1)
    return out


def feeds_from_records(records: list[Mapping[str, Any]], inputs: list[OnnxInput]) -> dict[str, np.ndarray]:
    """:func:`feeds` for a few JSON-like rows, without building a DataFrame (online serving:
    a frame costs ~2 ms per request, this ~20 us per row). Values are encoded like :func:`feeds`;
    dates that are not plain ``YYYY-MM-DD`` go through the same pandas parser."""
    out: dict[str, np.ndarray] = {}
    for spec in inputs:
        values = [rec.get(spec.name) for rec in records]
        if spec.kind in ("string", "tokens"):
            out[spec.name] = spec.encode(np.asarray([_text_value(v) for v in values], dtype=object))
            continue
        if spec.kind == "category":
            out[spec.name] = np.asarray([category_text(v) for v in values], dtype=object).reshape(-1, 1)
            continue
        if spec.kind == "float":
            array = np.asarray([np.nan if v is None else v for v in values], dtype=np.float32)
        elif spec.kind == "boolean":
            array = boolean_values(values, spec.true_values or (), spec.false_values or ()).astype(np.float32)
        else:
            array = _days_of_values(values, spec.format)
        out[spec.name] = array.reshape(len(records), 1)
    return out


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _days_of_values(values: list[Any], format: str | None = None) -> np.ndarray:
    days = np.full(len(values), np.nan, dtype=np.float64)
    slow: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            try:
                days[i] = date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL
                continue
            except ValueError:
                pass
        slow.append(i)
    if slow:
        days[slow] = _days(pd.Series([values[i] for i in slow], dtype=object), format)
    return days


# ----------------------------------------------------------------------------- conversion
def graph_inputs(pipeline: Any) -> list[OnnxInput]:
    """The raw columns the fitted pipeline's ``ColumnTransformer`` reads, with their encoding."""
    from modelmill.features.transformers import EnsureColumns

    columns, preprocessor = pipeline[0], pipeline[1]
    if not isinstance(columns, EnsureColumns):
        raise OnnxConversionError("the pipeline does not start with EnsureColumns (not a modelmill pipeline)")
    numeric = set(columns.numeric_columns_)
    inputs: list[OnnxInput] = []
    for _, transformer, selected in preprocessor.transformers_:
        if transformer == "drop" or not isinstance(selected, list | tuple):
            continue
        vectorizer = _text_vectorizer(transformer)
        first = _first_step(transformer)
        for name in selected:
            if vectorizer is not None:
                terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
                inputs.append(OnnxInput(str(name), "tokens", vectorizer.token_pattern,
                                        bool(vectorizer.lowercase), tuple(terms)))  # fmt: skip
            else:
                inputs.append(_input_of(str(name), first, name in numeric))
    return inputs


def _first_step(transformer: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return transformer.steps[0][1] if isinstance(transformer, Pipeline) else transformer


def _input_of(name: str, first: Any, numeric: bool) -> OnnxInput:
    """The input of a column whose block starts with ``first`` (not a vectorizer)."""
    from modelmill.features.transformers import AsBoolean, CategoryText, DaysSince, TextColumn

    if isinstance(first, DaysSince):
        return OnnxInput(name, "date", format=first.format)
    if isinstance(first, CategoryText):
        return OnnxInput(name, "category")
    if isinstance(first, AsBoolean):
        return OnnxInput(name, "boolean", true_values=tuple(first.true_values),
                         false_values=tuple(first.false_values))  # fmt: skip
    if isinstance(first, TextColumn):
        return OnnxInput(name, "string")
    return OnnxInput(name, "float" if numeric else "string")  # bare imputers and encoders


def _text_vectorizer(transformer: Any) -> Any:
    """The word-level ``TfidfVectorizer``/``CountVectorizer`` a column ends in, if any."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import Pipeline

    last = transformer.steps[-1][1] if isinstance(transformer, Pipeline) else transformer
    if not isinstance(last, CountVectorizer):  # also "passthrough"
        return None
    if last.analyzer != "word" or last.tokenizer is not None or last.preprocessor is not None:
        raise OnnxConversionError("only word analyzers with the default tokenizer have an ONNX converter")
    if tuple(last.ngram_range) != (1, 1) or last.strip_accents is not None:
        raise OnnxConversionError(
            "only single words (ngram_range (1, 1), no strip_accents) have an ONNX converter"
        )
    return last


def _prepare(pipeline: Any, inputs: list[OnnxInput]) -> tuple[Any, str]:
    """A converter-friendly deep copy of ``pipeline[1:]`` and the target transform (``none``/``log1p``).

    A classifier's wrappers are taken off (:func:`~modelmill.features.onnx_classifier.unwrapped`).
    Imputers that read ``string`` inputs directly (pipelines exported before :class:`CategoryText`)
    learn with ``missing_values=NaN``; in the graph a missing string is ``""`` (see :func:`feeds`),
    which is what skl2onnx's string imputer needs."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    text = {spec.name for spec in inputs if spec.kind == "string"}
    core = copy.deepcopy(Pipeline(pipeline.steps[1:]))
    for _, step, selected in core[0].transformers_:
        if not isinstance(selected, list | tuple) or not set(selected) <= text:
            continue
        parts = step.steps if isinstance(step, Pipeline) else [(None, step)]
        for _, part in parts:
            if isinstance(part, SimpleImputer):
                part.missing_values = ""
    final = core.steps[-1][1]
    if classifiers.is_classifier(final):
        try:
            core.steps[-1] = (core.steps[-1][0], classifiers.convertible(final))
        except NotImplementedError as exc:
            raise OnnxConversionError(str(exc)) from None
        return core, "none"
    if not isinstance(final, TransformedTargetRegressor):
        return core, "none"
    if final.func is not np.log1p or final.inverse_func is not np.expm1:
        raise OnnxConversionError("only the log1p/expm1 target transform has an ONNX converter")
    core.steps[-1] = (core.steps[-1][0], final.regressor_)
    return core, "log1p"


def to_onnx(pipeline: Any) -> tuple[bytes, list[OnnxInput]]:
    """The serialized ONNX model of a fitted modelmill inference pipeline, and its inputs.

    A regressor's graph outputs the predictions ``[N, 1]``; a classifier's ``label`` and
    ``probabilities`` ``[N, n_classes]`` (no ZipMap; :mod:`~modelmill.features.onnx_classifier`).

    Raises :class:`OnnxConversionError` (with the reason) when a part cannot be converted
    or the ``onnx`` extra is not installed."""
    inputs = graph_inputs(pipeline)
    core, target = _prepare(pipeline, inputs)
    if classifiers.is_classifier(core.steps[-1][1]):
        model = convert(core, inputs, classifiers.no_zipmap(core.steps[-1][1]))
        if problem := classifiers.output_problem(model):
            raise OnnxConversionError(problem)
        return model.SerializeToString(), inputs
    model = convert(core, inputs)
    if target == "log1p":
        from modelmill.features import onnx_converters

        onnx_converters.append_expm1(model)
    return model.SerializeToString(), inputs


def convert(steps: Any, inputs: list[OnnxInput], options: Mapping[Any, Any] | None = None) -> Any:
    """The ONNX ``ModelProto`` of fitted ``steps`` (a pipeline without :class:`EnsureColumns`,
    see :func:`_prepare`) reading the graph inputs ``inputs`` (``options``: more skl2onnx
    options, e.g. :func:`~modelmill.features.onnx_classifier.no_zipmap`)."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import (
            DoubleTensorType,
            FloatTensorType,
            Int64TensorType,
            StringTensorType,
        )
        from sklearn.feature_extraction.text import TfidfVectorizer
    except ImportError as exc:
        raise OnnxConversionError(
            f"the onnx extra is not installed ({exc}): pip install 'modelmill[onnx]'"
        ) from None
    from modelmill.features import onnx_converters

    onnx_converters.register()
    types = {"string": StringTensorType, "category": StringTensorType, "float": FloatTensorType,
             "boolean": FloatTensorType, "date": DoubleTensorType, "tokens": Int64TensorType}  # fmt: skip
    initial = [(spec.name, types[spec.kind]([None, None if spec.kind == "tokens" else 1])) for spec in inputs]
    try:
        with onnx_converters.conversion_fixes():
            model = convert_sklearn(
                steps, initial_types=initial, target_opset=TARGET_OPSET,
                options={TfidfVectorizer: {"locale": "C.UTF-8", "separators": [" "]}, **(options or {})},
            )  # fmt: skip
    except Exception as exc:  # skl2onnx raises many types for "no converter"/"unsupported option"
        raise OnnxConversionError(
            f"skl2onnx could not convert the pipeline: {type(exc).__name__}: {exc}"
        ) from None
    onnx_converters.restore_input_names(model, [spec.name for spec in inputs])
    onnx_converters.bypass_column_extraction(model, [spec.name for spec in inputs if spec.kind == "tokens"])
    _drop_unused_initializers(model)
    return model


def _drop_unused_initializers(model: Any) -> None:
    """Remove constants no node reads (skl2onnx leaves some behind), which onnxruntime would
    otherwise warn about on stderr each time it loads the graph."""
    used = {name for node in model.graph.node for name in node.input}
    used |= {o.name for o in model.graph.output}
    for initializer in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(initializer)
