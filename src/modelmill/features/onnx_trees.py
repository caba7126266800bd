"""HistGradientBoosting trees in ONNX: skl2onnx 1.20's converters, corrected while converting.

:func:`modelmill.features.onnx_converters.conversion_fixes` puts :func:`hgb_regressor_convert`
and :func:`hgb_classifier_convert` in place of skl2onnx's converters (kept in :data:`ORIGINALS`
for the duration) and applies :func:`hist_gradient_boosting_fixes`:

* numeric-only models keep skl2onnx's converters, with two fixes to the nodes they write
  (``missing_go_to_left`` cast to ``int``; float32 thresholds rounded down, not to nearest);
* models with categorical splits (``categorical_features``), which skl2onnx 1.20 writes as
  numeric thresholds, are written here (:class:`_TreeWriter`): a regressor as a
  ``TreeEnsembleRegressor``, a classifier as a ``TreeEnsembleClassifier`` laid out as skl2onnx
  lays out numeric ones (one tree per class and iteration, the raw-score baseline as base
  values, ``LOGISTIC`` for two classes, ``SOFTMAX`` for more, ``NONE`` when a calibrator
  asks for raw scores), so that ``label``/``probabilities`` reproduce ``predict_proba``.

Imported only when converting (skl2onnx is the optional ``onnx`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

HGB_REGRESSOR = "SklearnHistGradientBoostingRegressor"
HGB_CLASSIFIER = "SklearnHistGradientBoostingClassifier"
ORIGINALS: dict[str, Any] = {}  # skl2onnx's converters by alias, during conversion_fixes()
_POST_TRANSFORMS = {"HalfBinomialLoss": "LOGISTIC", "HalfMultinomialLoss": "SOFTMAX"}


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


def _has_categories(op: Any) -> bool:
    categorical = getattr(op, "is_categorical_", None)
    return categorical is not None and bool(np.any(categorical))


def hgb_regressor_convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's converter for numeric-only models; :func:`_hgb_categorical` otherwise."""
    if not _has_categories(operator.raw_operator):
        return ORIGINALS[HGB_REGRESSOR](scope, operator, container)
    return _hgb_categorical(scope, operator, container)


def hgb_classifier_convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx's converter for numeric-only models; :func:`_hgb_categorical_classifier` otherwise."""
    if not _has_categories(operator.raw_operator):
        return ORIGINALS[HGB_CLASSIFIER](scope, operator, container)
    return _hgb_categorical_classifier(scope, operator, container)


def _tree_attributes(op: Any, prefix: str) -> dict[str, list[Any]]:
    """The node and leaf attributes of every tree of ``op`` (``prefix``: ``target`` for a
    regressor's leaves, ``class`` for a classifier's); tree ``i * K + k`` is iteration ``i``'s
    tree for output ``k`` (``K = n_trees_per_iteration_``), as skl2onnx numbers them.

    scikit-learn (>= 1.4) encodes the categorical columns itself before fitting (its own
    ``OrdinalEncoder``: sorted raw values -> codes, unknown -> NaN) and moves them first, so
    the trees' feature indexes and category codes are mapped back to the raw input here."""
    from skl2onnx.common.tree_ensemble import sklearn_threshold

    encoder = op._preprocessor.named_transformers_["encoder"]
    categorical = np.flatnonzero(op.is_categorical_)
    columns = np.concatenate([categorical, np.flatnonzero(~np.asarray(op.is_categorical_))])
    known = {
        position: np.asarray([v for v in values if not _is_nan(v)], dtype=np.float64)
        for position, values in enumerate(encoder.categories_)
    }
    attrs: dict[str, list[Any]] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        f"{prefix}_treeids", f"{prefix}_nodeids", f"{prefix}_ids", f"{prefix}_weights")}  # fmt: skip
    for iteration, predictors in enumerate(op._predictors):
        for output, predictor in enumerate(predictors):
            tree_id = iteration * len(predictors) + output
            writer = _TreeWriter(attrs, tree_id, predictor, columns, known, sklearn_threshold, prefix, output)
            writer.write_tree()
    return attrs


def _as_arrays(attrs: dict[str, list[Any]]) -> dict[str, Any]:
    n_nodes = len(attrs["nodes_nodeids"])
    floats = ("nodes_values", "target_weights", "class_weights")
    arrays = {k: np.asarray(v, dtype=np.float32) if k in floats else v for k, v in attrs.items()}
    return {"nodes_hitrates": np.ones(n_nodes, dtype=np.float32), **arrays}


def _hgb_categorical(scope: Any, operator: Any, container: Any) -> None:
    """A ``TreeEnsembleRegressor`` of a HistGradientBoosting regressor with categorical splits.

    Numeric splits are ``x <= t`` with ``t`` the largest float32 that keeps scikit-learn's
    float64 comparison (features are float32: ``AsFloat32``). A categorical split sends a raw
    value left when its code is in the split's left set, and unknown values and NaN in the
    missing-value direction. ONNX ML (opset 3) has no set test, so a split becomes a chain of
    ``x == v`` nodes sharing one target subtree (onnxruntime merges such chains into one
    set-membership test): over the left values when missing values go right, over the right
    values otherwise, so that every value outside the chain takes the missing-value side."""
    op = operator.raw_operator
    if op.n_trees_per_iteration_ != 1:
        raise NotImplementedError("categorical HistGradientBoosting with several trees per iteration")
    container.add_node(
        "TreeEnsembleRegressor", operator.input_full_names, operator.outputs[0].full_name,
        op_domain="ai.onnx.ml", op_version=1, name=scope.get_unique_operator_name("TreeEnsembleRegressor"),
        n_targets=1, aggregate_function="SUM", post_transform="NONE",
        base_values=np.asarray(op._baseline_prediction, dtype=np.float32).ravel(),
        **_as_arrays(_tree_attributes(op, "target")),
    )  # fmt: skip


def _hgb_categorical_classifier(scope: Any, operator: Any, container: Any) -> None:
    """A ``TreeEnsembleClassifier`` of a HistGradientBoosting classifier with categorical
    splits (the trees as :func:`_hgb_categorical` writes them): outputs ``label`` and the
    ``[N, n_classes]`` probabilities, or raw scores when the ``raw_scores`` option is set
    (a ``CalibratedClassifierCV`` calibrates the decision function)."""
    from skl2onnx.common.utils_classifier import get_label_classes

    op = operator.raw_operator
    raw = container.get_options(op, {"raw_scores": False})["raw_scores"]
    loss = type(op._loss).__name__
    if not raw and loss not in _POST_TRANSFORMS:
        raise NotImplementedError(f"HistGradientBoostingClassifier with loss {loss}")
    classes = list(get_label_classes(scope, op))
    if all(isinstance(c, int | np.integer | bool | np.bool_) for c in classes):
        labels: dict[str, Any] = {"classlabels_int64s": [int(c) for c in classes]}
    elif all(isinstance(c, str) for c in classes):
        labels = {"classlabels_strings": [str(c) for c in classes]}
    else:
        raise NotImplementedError("class labels that are neither all integers nor all strings")
    container.add_node(
        "TreeEnsembleClassifier", operator.input_full_names,
        [operator.outputs[0].full_name, operator.outputs[1].full_name],
        op_domain="ai.onnx.ml", op_version=1, name=scope.get_unique_operator_name("TreeEnsembleClassifier"),
        post_transform="NONE" if raw else _POST_TRANSFORMS[loss],
        base_values=np.asarray(op._baseline_prediction, dtype=np.float32).ravel(),
        **labels, **_as_arrays(_tree_attributes(op, "class")),
    )  # fmt: skip


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


class _TreeWriter:
    """Appends one scikit-learn HistGradientBoosting tree to a tree ensemble's attributes
    (its leaves under ``prefix``: ``target_*`` for a regressor, ``class_*`` for a classifier,
    all for output ``output``)."""

    def __init__(
        self, attrs: dict[str, list[Any]], tree_id: int, predictor: Any, columns: np.ndarray,
        known: dict[int, np.ndarray], threshold: Any, prefix: str = "target", output: int = 0,
    ) -> None:  # fmt: skip
        self.attrs, self.tree_id, self.nodes = attrs, tree_id, predictor.nodes
        self.bitsets = predictor.raw_left_cat_bitsets
        self.columns, self.known, self.threshold = columns, known, threshold
        self.prefix, self.output = prefix, output
        self.next_id = 0
        self.rows: dict[int, tuple[int, str, float, int, int, int]] = {}

    def write_tree(self) -> None:
        """Write the whole tree, its nodes in id order (onnxruntime takes a tree's first node as its root)."""
        self.write(0)
        a = self.attrs
        for node_id in sorted(self.rows):
            feature, mode, value, true, false, missing_true = self.rows[node_id]
            a["nodes_treeids"].append(self.tree_id)
            a["nodes_nodeids"].append(node_id)
            a["nodes_featureids"].append(feature)
            a["nodes_modes"].append(mode)
            a["nodes_values"].append(value)
            a["nodes_truenodeids"].append(true)
            a["nodes_falsenodeids"].append(false)
            a["nodes_missing_value_tracks_true"].append(missing_true)

    def _new(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def _node(self, node_id: int, feature: int, mode: str, value: float, true: int, false: int,
              missing_true: int) -> None:  # fmt: skip
        self.rows[node_id] = (feature, mode, value, true, false, missing_true)

    def _left_codes(self, node: Any) -> set[int]:
        words = self.bitsets[int(node["bitset_idx"])]
        return {c for c in range(32 * len(words)) if (int(words[c // 32]) >> (c % 32)) & 1}

    def write(self, index: int) -> int:
        """Write node ``index`` and its subtree (pre-order ids: a tree's root is 0); its id."""
        node = self.nodes[index]
        own = self._new()
        if node["is_leaf"]:
            self._node(own, 0, "LEAF", 0.0, 0, 0, 0)
            a, p = self.attrs, self.prefix
            a[f"{p}_treeids"].append(self.tree_id)
            a[f"{p}_nodeids"].append(own)
            a[f"{p}_ids"].append(self.output)
            a[f"{p}_weights"].append(float(node["value"]))
            return own
        position = int(node["feature_idx"])
        feature, missing_left = int(self.columns[position]), bool(node["missing_go_to_left"])
        if not node["is_categorical"]:
            # a NumPy float64: with a Python float, NumPy 2 compares it in float32 and rounds to nearest
            threshold = float(self.threshold(np.float64(node["num_threshold"]), np.float32, "BRANCH_LEQ"))
            left, right = self.write(int(node["left"])), self.write(int(node["right"]))
            self._node(own, feature, "BRANCH_LEQ", threshold, left, right, int(missing_left))
            return own
        values = self.known[position]
        codes = self._left_codes(node)
        left_values = [float(v) for c, v in enumerate(values) if c in codes]
        right_values = [float(v) for c, v in enumerate(values) if c not in codes]
        tested = right_values if missing_left else left_values
        chain = [own] + [self._new() for _ in tested[1:]]
        left, right = self.write(int(node["left"])), self.write(int(node["right"]))
        hit, miss = (right, left) if missing_left else (left, right)
        if not tested:  # every known value goes the missing-value way
            self._node(own, feature, "BRANCH_LEQ", float("inf"), miss, miss, 1)
            return own
        for i, (node_id, value) in enumerate(zip(chain, tested, strict=True)):
            false = chain[i + 1] if i + 1 < len(chain) else miss
            self._node(node_id, feature, "BRANCH_EQ", value, hit, false, 0)
        return own
