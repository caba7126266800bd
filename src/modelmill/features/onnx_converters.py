"""skl2onnx converters for modelmill's own transformers (see :mod:`modelmill.features.onnx`).

Each converter reproduces the transformer's ``transform`` on the encoded graph inputs:

* :class:`TextColumn`, :class:`CategoryText`: identity; the feed already holds the strings
  (``""`` for missing) the transformer would give.
* :class:`AsBoolean`: identity (a cast to float); the feed already holds 1/0/NaN.
* :class:`DaysSince` (and its old name :class:`DaysSinceReview`): the feed holds days since
  1970-01-01 as doubles (NaN when missing or unparsable); the output is
  ``floor(reference - date)`` as float, with the missing date substituted when there is one,
  which is what ``(reference - date).dt.days`` gives in pandas.

Three skl2onnx converters are also corrected for the duration of a conversion
(:func:`conversion_fixes`): HistGradientBoosting trees, regressors and classifiers (and their
categorical splits, which skl2onnx 1.20 writes as numeric thresholds:
:mod:`modelmill.features.onnx_trees` writes them as chains of equality tests, which onnxruntime
runs as set membership), and ``TfidfVectorizer``'s weighting,
which skl2onnx computes in float32 where scikit-learn computes in float64; a 1-ulp difference
sends a row down the other branch of a tree whose threshold lies between two such values.

Imported only when converting (skl2onnx is the optional ``onnx`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx.algebra.onnx_ops import OnnxCast, OnnxFloor, OnnxIdentity, OnnxIsNaN, OnnxSub, OnnxWhere
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

from modelmill.features.transformers import (
    AsBoolean,
    AsFloat32,
    CategoryText,
    DaysSince,
    DaysSinceReview,
    TextColumn,
)

_EPOCH = np.datetime64("1970-01-01", "D")
_registered = False
_ORIGINAL_TFIDF: Any = None  # skl2onnx's TfidfVectorizer converter, during conversion_fixes()


def epoch_days(iso_date: str) -> float:
    """Days between 1970-01-01 and an ISO date (what the graph compares dates in)."""
    return float((np.datetime64(iso_date, "D") - _EPOCH).astype(np.int64))


def _rows(operator: Any) -> Any:
    return operator.inputs[0].get_first_dimension()


def _text_shape(operator: Any) -> None:
    if isinstance(operator.inputs[0].type, Int64TensorType):  # token indexes (OnnxInput kind "tokens")
        operator.outputs[0].type = Int64TensorType([_rows(operator), None])
    else:
        operator.outputs[0].type = StringTensorType(
            [_rows(operator), operator.inputs[0].get_second_dimension()]
        )


def _text_convert(scope: Any, operator: Any, container: Any) -> None:
    OnnxIdentity(
        operator.inputs[0], op_version=container.target_opset, output_names=operator.outputs[:1]
    ).add_to(scope, container)


def _text_parser(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    """Declare the output with the input's type (strings, or token indexes) from the start: the
    default parser guesses float, and a string imputer after :class:`CategoryText` then fails
    skl2onnx's "inputs and outputs should have the same type" check."""
    from skl2onnx._supported_operators import get_model_alias

    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("text", type(inputs[0].type)()))
    return list(operator.outputs)


def _days_shape(operator: Any) -> None:
    width = operator.inputs[0].get_second_dimension()
    operator.outputs[0].type = FloatTensorType([_rows(operator), width])


def _days_parser(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    """Declare the output float (days) from the start, so a step after it in a pipeline (an
    imputer) is declared float too: the default parser copies the input's type (double dates)."""
    from skl2onnx._supported_operators import get_model_alias

    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("days", FloatTensorType()))
    return list(operator.outputs)


def _days_convert(scope: Any, operator: Any, container: Any) -> None:
    op: DaysSince = operator.raw_operator
    opv = container.target_opset
    reference = np.array([[epoch_days(d) for d in op.reference_dates_]], dtype=np.float64)
    dates: Any = operator.inputs[0]
    if op.missing_date is not None:
        missing = np.array([epoch_days(op.missing_date)], dtype=np.float64)
        dates = OnnxWhere(OnnxIsNaN(dates, op_version=opv), missing, dates, op_version=opv)
    days = OnnxFloor(OnnxSub(reference, dates, op_version=opv), op_version=opv)
    OnnxCast(days, to=TensorProto.FLOAT, op_version=opv, output_names=operator.outputs[:1]).add_to(
        scope, container
    )


def _tfidf_convert(scope: Any, operator: Any, container: Any) -> None:
    """``TfidfVectorizer`` as scikit-learn computes it: counts (exact integers), then idf
    weighting and l2 normalisation in float64 (a row without tokens stays zeros), then float32
    (what ``AsFloat32`` gives). Counts come from token indexes (an ``int64`` input, see
    ``OnnxInput`` kind ``tokens``) or from skl2onnx's string tokenizer. Settings this does not
    cover keep skl2onnx's own converter."""
    vectorizer = operator.raw_operator
    if vectorizer.sublinear_tf or vectorizer.norm not in ("l2", None):
        return _ORIGINAL_TFIDF(scope, operator, container)
    width = max(vectorizer.vocabulary_.values()) + 1
    node = _node_adder(scope, container)
    name = scope.get_unique_variable_name
    if isinstance(operator.inputs[0].type, Int64TensorType):
        counts = _count_indexes(node, operator.inputs[0].full_name, width)
        if vectorizer.binary:
            one = name("tfidf_one_f")
            container.add_initializer(one, TensorProto.FLOAT, [], [1.0])
            counts = node("Min", [counts, one])
    else:
        counts = _count_strings(scope, operator, width)
    value = node("Cast", [counts], to=TensorProto.DOUBLE)
    if vectorizer.use_idf:
        idf = name("tfidf_idf")
        container.add_initializer(idf, TensorProto.DOUBLE, [width], vectorizer.idf_.astype(np.float64))
        value = node("Mul", [value, idf])
    if vectorizer.norm == "l2":
        zero, one = name("tfidf_zero"), name("tfidf_one")
        container.add_initializer(zero, TensorProto.DOUBLE, [], [0.0])
        container.add_initializer(one, TensorProto.DOUBLE, [], [1.0])
        norm = node("ReduceL2", [value], axes=[1], keepdims=1)  # opset 17: axes is an attribute
        safe = node("Where", [node("Equal", [norm, zero]), one, norm])  # sklearn: a zero norm is 1
        value = node("Div", [value, safe])
    container.add_node("Cast", [value], operator.outputs[0].full_name, to=TensorProto.FLOAT,
                       name=scope.get_unique_operator_name("Cast"))  # fmt: skip


def _count_indexes(node: Any, indexes: str, width: int) -> str:
    """``[N, width]`` float counts of the vocabulary indexes in each row (-1 pads are not counted)."""
    terms = list(range(width))
    return str(node("TfIdfVectorizer", [indexes], mode="TF", min_gram_length=1, max_gram_length=1,
                    max_skip_count=0, ngram_counts=[0], ngram_indexes=terms, pool_int64s=terms))  # fmt: skip


def _count_strings(scope: Any, operator: Any, width: int) -> str:
    """skl2onnx's CountVectorizer graph (its tokenizer, its options) for string input."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from sklearn.feature_extraction.text import CountVectorizer

    counts = scope.declare_local_variable("tfidf_counts", FloatTensorType([None, width]))
    counter = scope.declare_local_operator(sklearn_operator_name_map[CountVectorizer], operator.raw_operator)
    counter.inputs = operator.inputs
    counter.outputs.append(counts)
    return str(counts.full_name)


def _node_adder(scope: Any, container: Any) -> Any:
    """``node(op_type, inputs, **attrs) -> output name`` for one-output ONNX nodes."""

    def node(op_type: str, inputs: list[str], **attrs: Any) -> str:
        output = scope.get_unique_variable_name(f"tfidf_{op_type.lower()}")
        container.add_node(op_type, inputs, output, name=scope.get_unique_operator_name(op_type), **attrs)
        return output

    return node


TFIDF = "SklearnTfidfVectorizer"


@contextmanager
def conversion_fixes() -> Iterator[None]:
    """skl2onnx's HistGradientBoosting (:mod:`modelmill.features.onnx_trees`) and TfidfVectorizer
    converters, corrected while converting (restored afterwards: other conversions in the
    process see skl2onnx as installed)."""
    from skl2onnx.common._registration import RegisteredConverter, _converter_pool

    from modelmill.features import onnx_trees

    global _ORIGINAL_TFIDF
    replaced = {TFIDF: _tfidf_convert, onnx_trees.HGB_REGRESSOR: onnx_trees.hgb_regressor_convert,
                onnx_trees.HGB_CLASSIFIER: onnx_trees.hgb_classifier_convert}  # fmt: skip
    originals = {alias: _converter_pool[alias] for alias in replaced}
    _ORIGINAL_TFIDF = originals[TFIDF]
    onnx_trees.ORIGINALS.update(originals)
    for alias, converter in replaced.items():
        _converter_pool[alias] = RegisteredConverter(converter, originals[alias].get_allowed_options())
    try:
        with onnx_trees.hist_gradient_boosting_fixes():
            yield
    finally:
        _converter_pool.update(originals)


def _float_shape(operator: Any) -> None:
    operator.outputs[0].type = FloatTensorType([_rows(operator), operator.inputs[0].get_second_dimension()])


def _float_convert(scope: Any, operator: Any, container: Any) -> None:
    OnnxCast(
        operator.inputs[0], to=TensorProto.FLOAT, op_version=container.target_opset,
        output_names=operator.outputs[:1],
    ).add_to(scope, container)  # fmt: skip


def register() -> None:
    """Register the converters with skl2onnx (once per process)."""
    global _registered
    if _registered:
        return
    for text in (TextColumn, CategoryText):
        update_registered_converter(text, f"Modelmill{text.__name__}", _text_shape, _text_convert,
                                    parser=_text_parser)  # fmt: skip
    for days in (DaysSince, DaysSinceReview):
        update_registered_converter(days, f"Modelmill{days.__name__}", _days_shape, _days_convert,
                                    parser=_days_parser)  # fmt: skip
    update_registered_converter(AsFloat32, "ModelmillAsFloat32", _float_shape, _float_convert)
    update_registered_converter(AsBoolean, "ModelmillAsBoolean", _float_shape, _float_convert)
    _registered = True


def append_expm1(model: Any) -> None:
    """Turn the graph's single output ``y`` into ``exp(y) - 1`` (the log1p target transform's inverse)."""
    graph = model.graph
    if len(graph.output) != 1:
        raise ValueError(f"expected one graph output, got {len(graph.output)}")
    final = graph.output[0].name
    raw, exp, one = f"{final}_log1p", f"{final}_exp", f"{final}_one"
    for node in graph.node:
        node.output[:] = [raw if name == final else name for name in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), name=one))
    graph.node.extend([helper.make_node("Exp", [raw], [exp]), helper.make_node("Sub", [exp, one], [final])])


def restore_input_names(model: Any, names: list[str]) -> None:
    """Name the graph's inputs after their columns again: skl2onnx renames an input whose
    column name is not an identifier (``od280/od315`` -> ``od280_od315``), and the feeds are
    keyed by column name. ONNX allows any string as a value name."""
    graph = model.graph
    for graph_input, name in zip(graph.input, names, strict=True):
        old = graph_input.name
        if old == name:
            continue
        graph_input.name = name
        for node in graph.node:
            node.input[:] = [name if value == old else value for value in node.input]


def bypass_column_extraction(model: Any, inputs: list[str]) -> None:
    """Feed ``inputs`` whole to their consumers: skl2onnx's ``ColumnTransformer`` takes column 0
    of every named input (``ArrayFeatureExtractor``), but a token-index input is ``[N, L]``."""
    graph = model.graph
    for node in [n for n in graph.node if n.op_type == "ArrayFeatureExtractor" and n.input[0] in inputs]:
        source, extracted = node.input[0], node.output[0]
        for other in graph.node:
            other.input[:] = [source if name == extracted else name for name in other.input]
        graph.node.remove(node)
