"""skl2onnx converters for modelmill's own transformers (see :mod:`modelmill.features.onnx`).

Each converter reproduces the transformer's ``transform`` on the encoded graph inputs:

* :class:`TextColumn`: identity; the feed already holds ``str`` values with ``""`` for missing.
* :class:`DaysSinceReview`: the feed holds days since 1970-01-01 as doubles (NaN when missing
  or unparsable); the output is ``floor(reference - date)`` as float, with the missing date
  substituted, which is what ``(reference - date).dt.days`` gives in pandas.

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
from skl2onnx.common.data_types import FloatTensorType, StringTensorType

from modelmill.features.transformers import AsFloat32, DaysSinceReview, TextColumn

_EPOCH = np.datetime64("1970-01-01", "D")
_registered = False


def epoch_days(iso_date: str) -> float:
    """Days between 1970-01-01 and an ISO date (what the graph compares dates in)."""
    return float((np.datetime64(iso_date, "D") - _EPOCH).astype(np.int64))


def _rows(operator: Any) -> Any:
    return operator.inputs[0].get_first_dimension()


def _text_shape(operator: Any) -> None:
    operator.outputs[0].type = StringTensorType([_rows(operator), 1])


def _text_convert(scope: Any, operator: Any, container: Any) -> None:
    OnnxIdentity(
        operator.inputs[0], op_version=container.target_opset, output_names=operator.outputs[:1]
    ).add_to(scope, container)


def _days_shape(operator: Any) -> None:
    width = operator.inputs[0].get_second_dimension()
    operator.outputs[0].type = FloatTensorType([_rows(operator), width])


def _days_convert(scope: Any, operator: Any, container: Any) -> None:
    op: DaysSinceReview = operator.raw_operator
    opv = container.target_opset
    reference = np.array([[epoch_days(d) for d in op.reference_dates_]], dtype=np.float64)
    missing = np.array([epoch_days(op.missing_date)], dtype=np.float64)
    dates = operator.inputs[0]
    filled = OnnxWhere(OnnxIsNaN(dates, op_version=opv), missing, dates, op_version=opv)
    days = OnnxFloor(OnnxSub(reference, filled, op_version=opv), op_version=opv)
    OnnxCast(days, to=TensorProto.FLOAT, op_version=opv, output_names=operator.outputs[:1]).add_to(
        scope, container
    )


@contextmanager
def hist_gradient_boosting_fixes() -> Iterator[None]:
    """Two fixes to skl2onnx 1.20's HistGradientBoosting trees, for the duration of a conversion:
    ``missing_go_to_left`` (a NumPy bool with scikit-learn >= 1.6) goes into an ONNX ``ints``
    attribute, which protobuf refuses: cast to ``int``; and float64 thresholds were rounded to
    the nearest float32, which sends features just above a threshold down the wrong branch:
    round them down instead, as skl2onnx does for forests."""
    from skl2onnx.common import tree_ensemble

    original = tree_ensemble.add_node

    def add_node(*args: Any, **kwargs: Any) -> Any:
        if "nodes_missing_value_tracks_true" in kwargs:  # only HistGradientBoosting passes it
            kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
            if kwargs.get("dtype") == np.float32:
                # the largest float32 threshold t' with (x <= t) == (x <= t') for every float32 x,
                # as skl2onnx already does for forests (features are float32: AsFloat32)
                kwargs["adjust_threshold_for_sklearn"] = True
        return original(*args, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


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
    update_registered_converter(TextColumn, "ModelmillTextColumn", _text_shape, _text_convert)
    update_registered_converter(DaysSinceReview, "ModelmillDaysSinceReview", _days_shape, _days_convert)
    update_registered_converter(AsFloat32, "ModelmillAsFloat32", _float_shape, _float_convert)
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
