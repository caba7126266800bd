"""An ONNX ``TreeEnsembleRegressor`` node as the arrays the compiled kernel walks.

The node lists every tree's nodes (``nodes_*``: tree id, node id, feature, threshold, mode,
true and false children, where a missing value goes) and leaf weights (``target_*``). The
kernel wants each tree contiguous and breadth-first, a split's false child right after its
true child, leaves pointing at themselves. Everything is done on whole arrays (one pass per
tree level), so a 230,000-node forest is laid out in well under a second.

Only what the kernel evaluates exactly like onnxruntime is accepted: one target, ``BRANCH_LEQ``
splits on float thresholds, ``SUM`` or ``AVERAGE`` aggregation, no post transform. Anything
else raises :class:`UnsupportedTrees` and the graph keeps onnxruntime's evaluator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelmill.registry.tree_kernel import NODE_DTYPE
from modelmill.registry.tree_masks import leaf_masks

MAX_DEPTH = 64  # every row walks a tree's full depth: a deeper tree is left to onnxruntime
# Trees of at most 64 leaves are not walked (leaf masks, :mod:`modelmill.registry.tree_masks`).
# Larger ones are, every row to the tree's full depth. Lopsided trees (a few leaves at depth 25,
# most near 6) make that walk longer than onnxruntime's leaf-by-leaf one: on a leaf-wise boosting
# model (ratio 1.66) the walk was 30% slower, on the course forest (1.22) 2.5x faster.
MAX_LOPSIDED = 1.4  # sum of tree depths / sum of mean leaf depths above which onnxruntime walks


class UnsupportedTrees(ValueError):
    """The node uses something the kernel does not evaluate (the message says what)."""


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes: numpy arrays for lists and tensors (never 230,000 Python objects
    kept at once), ``str`` for strings, numbers as they are."""
    from onnx import AttributeProto, numpy_helper

    found: dict[str, Any] = {}
    for a in node.attribute:
        kind = a.type
        if kind == AttributeProto.INTS:
            found[a.name] = np.fromiter(a.ints, dtype=np.int64, count=len(a.ints))
        elif kind == AttributeProto.FLOATS:
            found[a.name] = np.fromiter(a.floats, dtype=np.float64, count=len(a.floats))
        elif kind == AttributeProto.STRINGS:
            found[a.name] = np.array(list(a.strings)).astype(str)
        elif kind == AttributeProto.TENSOR:
            found[a.name] = numpy_helper.to_array(a.t)
        elif kind == AttributeProto.STRING:
            found[a.name] = a.s.decode()
        elif kind == AttributeProto.INT:
            found[a.name] = int(a.i)
        elif kind == AttributeProto.FLOAT:
            found[a.name] = float(a.f)
    return found


def _thresholds(found: dict[str, Any]) -> np.ndarray:
    """Float32 thresholds meaning the same as the node's: ``x <= t`` for a float32 ``x``.
    A double threshold is rounded down to the largest float32 not above it."""
    values = found.get("nodes_values")
    if values is None:
        values = found.get("nodes_values_as_tensor")
    if values is None:
        raise UnsupportedTrees("the tree node has no thresholds")
    wide = np.asarray(values, dtype=np.float64)
    narrow = wide.astype(np.float32)
    above = narrow.astype(np.float64) > wide
    narrow[above] = np.nextafter(narrow[above], np.float32(-np.inf))
    return narrow


def _check(found: dict[str, Any]) -> None:
    if int(found.get("n_targets", 1)) != 1:
        raise UnsupportedTrees(f"{found.get('n_targets')} targets (the kernel computes one)")
    if found.get("post_transform", "NONE") != "NONE":
        raise UnsupportedTrees(f"post_transform {found['post_transform']}")
    if found.get("aggregate_function", "SUM") not in ("SUM", "AVERAGE"):
        raise UnsupportedTrees(f"aggregate_function {found['aggregate_function']}")
    modes = set(np.unique(found.get("nodes_modes", np.array([], dtype=str))).tolist())
    if modes - {"BRANCH_LEQ", "LEAF"}:
        raise UnsupportedTrees(f"split modes {sorted(modes - {'BRANCH_LEQ', 'LEAF'})}")
    if any(np.asarray(found.get("target_ids", [0])) != 0):
        raise UnsupportedTrees("leaf weights for more than one target")


def _positions(trees: np.ndarray, ids: np.ndarray, want_trees: np.ndarray, want_ids: np.ndarray
               ) -> np.ndarray:  # fmt: skip
    """Index in the node lists of each (tree id, node id) wanted; :class:`UnsupportedTrees` if absent."""
    width = int(max(ids.max(initial=0), want_ids.max(initial=0))) + 1
    keys = trees.astype(np.int64) * width + ids
    order = np.argsort(keys, kind="stable")
    wanted = want_trees.astype(np.int64) * width + want_ids
    at = np.searchsorted(keys[order], wanted)
    at = np.minimum(at, len(order) - 1)
    if len(wanted) and not np.array_equal(keys[order][at], wanted):
        raise UnsupportedTrees("a child or leaf weight names a node the tree does not have")
    return order[at]


def _breadth_first(trees: np.ndarray, branch: np.ndarray, true: np.ndarray, false: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The node order (every tree contiguous, level by level, children in pairs) and each
    node's depth."""
    children = np.zeros(len(trees), dtype=bool)
    children[true[branch]] = True
    children[false[branch]] = True
    frontier = np.flatnonzero(~children)
    frontier = frontier[np.argsort(trees[frontier], kind="stable")]
    if len(np.unique(trees[frontier])) != len(frontier):
        raise UnsupportedTrees("a tree with more than one root")
    levels, depth = [], np.zeros(len(trees), dtype=np.int64)
    for level in range(MAX_DEPTH + 1):
        depth[frontier] = level
        levels.append(frontier)
        splits = frontier[branch[frontier]]
        if len(splits) == 0:
            break
        frontier = np.stack([true[splits], false[splits]], axis=1).ravel()
    else:
        raise UnsupportedTrees(f"a tree deeper than {MAX_DEPTH} levels")
    order = np.concatenate(levels)
    order = order[np.argsort(trees[order], kind="stable")]
    if len(order) != len(trees) or len(np.unique(order)) != len(order):
        raise UnsupportedTrees("nodes that no root reaches, or reached twice")
    return order, depth


def _check_balance(trees: np.ndarray, branch: np.ndarray, depth: np.ndarray, walked: int,
                   max_lopsided: float) -> None:  # fmt: skip
    leaves = ~branch
    _, tree_of = np.unique(trees[leaves], return_inverse=True)
    mean = np.bincount(tree_of, weights=depth[leaves]) / np.bincount(tree_of)
    lopsided = walked / max(float(mean.sum()), 1.0)
    if lopsided > max_lopsided:
        raise UnsupportedTrees(
            f"lopsided trees: a full-depth walk is {lopsided:.2f}x the mean leaf "
            f"depth, over the kernel's {max_lopsided}x"
        )


def tree_arrays(node: Any, max_lopsided: float = MAX_LOPSIDED) -> dict[str, Any]:
    """The kernel's arrays for a ``TreeEnsembleRegressor`` ``node``: the fields of
    :class:`~modelmill.registry.tree_kernel.CompiledTrees` (:class:`UnsupportedTrees` when the
    kernel would not evaluate it exactly, or more slowly than onnxruntime)."""
    found = attributes(node)
    _check(found)
    trees = np.asarray(found["nodes_treeids"], dtype=np.int64)
    ids = np.asarray(found["nodes_nodeids"], dtype=np.int64)
    branch = found["nodes_modes"] == "BRANCH_LEQ"
    true, false = np.zeros(len(trees), dtype=np.int64), np.zeros(len(trees), dtype=np.int64)
    for side, name in ((true, "nodes_truenodeids"), (false, "nodes_falsenodeids")):  # a leaf's are unused
        side[branch] = _positions(trees, ids, trees[branch], np.asarray(found[name], dtype=np.int64)[branch])
    features = np.asarray(found["nodes_featureids"], dtype=np.int64)
    if branch.any() and features[branch].min() < 0:
        raise UnsupportedTrees("a split on a negative feature index")
    columns = int(features[branch].max(initial=0)) + 1
    # wide inputs (400 TF-IDF terms) are read narrowed to these; a leaf reads column 0, unused
    used = np.unique(features[branch]) if branch.any() else np.zeros(1, dtype=np.int64)
    features = np.searchsorted(used, features)
    order, depth = _breadth_first(trees, branch, true, false)
    new = np.empty(len(order), dtype=np.int64)
    new[order] = np.arange(len(order))
    nodes = np.zeros(len(order), dtype=NODE_DTYPE)
    tracks = np.asarray(found.get("nodes_missing_value_tracks_true", np.zeros(len(trees))), dtype=bool)
    nan_right = np.where(branch & ~tracks, np.int64(1) << 31, 0)
    nodes["feature"] = (np.where(branch, features, 0) | nan_right)[order].astype(np.uint32).view(np.int32)
    nodes["threshold"] = np.where(branch, _thresholds(found), np.float32(np.inf))[order]
    nodes["left"] = np.where(branch, new[true], new)[order]  # a leaf points at itself
    values = np.zeros(len(order), dtype=np.float64)
    leaves = _positions(trees, ids, np.asarray(found["target_treeids"]), np.asarray(found["target_nodeids"]))
    weights = found.get("target_weights", found.get("target_weights_as_tensor"))
    np.add.at(values, new[leaves], np.asarray(weights, dtype=np.float64).ravel())
    first = np.flatnonzero(np.r_[True, trees[order][1:] != trees[order][:-1]])
    depths = np.maximum.reduceat(depth[order], first)
    masks = leaf_masks(nodes, values, first, len(used))
    if not len(masks["leaf_values"]):  # walked: only when not slower than onnxruntime
        _check_balance(trees, branch, depth, int(depths.sum()), max_lopsided)
    count = len(first)
    base = np.asarray(
        found.get("base_values", found.get("base_values_as_tensor", [0.0])), dtype=np.float64
    ).ravel()
    average = found.get("aggregate_function", "SUM") == "AVERAGE"
    return {"nodes": nodes, "values": values, "roots": first.astype(np.int32),
            "depths": depths.astype(np.int32), "columns": columns, "used": used, "base": float(base[0]),
            "scale": 1.0 / count if average else 1.0, **masks}  # fmt: skip
