"""Leaf bitmasks for ensembles of small trees: the layout ``mm_masks_sum`` reads.

Boosting grows trees leaf-wise to a few dozen leaves (the tuned model: 31), some branches
long and most short. The full-depth walk of ``mm_trees_sum`` pays for the longest branch on
every row (1.64x the mean leaf depth there, slower than onnxruntime). With at most 64 leaves
a tree's live leaves fit one 64-bit word, and QuickScorer's idea (Lucchese et al., SIGIR
2015) applies: a split the row goes right at kills the leaves of its left subtree; the
row's leaf is the lowest bit that survives. Nothing is walked, so a lopsided tree costs no
more than a balanced one. Built from the breadth-first arrays of
:mod:`modelmill.registry.tree_layout` (children side by side, leaves pointing at themselves)
with whole-array passes, one per tree level.
"""

from __future__ import annotations

import numpy as np

MAX_LEAVES = 64  # one machine word of live leaves per tree
MASK_ARRAYS = ("mask_offsets", "mask_thresholds", "mask_trees", "mask_kills", "mask_nan_right",
               "leaf_first", "leaf_values")  # fmt: skip


def no_masks() -> dict[str, np.ndarray]:
    """The mask arrays, empty: the trees are walked (a tree has more than 64 leaves)."""
    types = (np.int64, np.float32, np.int32, np.uint64, np.uint8, np.int64, np.float64)
    return {name: np.zeros(0, dtype=kind) for name, kind in zip(MASK_ARRAYS, types, strict=True)}


def _levels(left: np.ndarray, split: np.ndarray, roots: np.ndarray) -> list[np.ndarray]:
    """Node indexes level by level, from the roots down."""
    levels, frontier = [], roots.astype(np.int64)
    while len(frontier):
        levels.append(frontier)
        parents = frontier[split[frontier]]
        frontier = np.stack([left[parents], left[parents] + 1], axis=1).ravel()
    return levels


def _leaf_ranges(left: np.ndarray, split: np.ndarray, roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each node's leaves as a range of its tree's left-to-right leaf numbers: (first, count)."""
    levels = _levels(left, split, roots)
    count = np.ones(len(left), dtype=np.int64)
    for level in reversed(levels):  # children before parents
        parents = level[split[level]]
        count[parents] = count[left[parents]] + count[left[parents] + 1]
    first = np.zeros(len(left), dtype=np.int64)
    for level in levels:  # parents before children
        parents = level[split[level]]
        first[left[parents]] = first[parents]
        first[left[parents] + 1] = first[parents] + count[left[parents]]
    return first, count


def leaf_masks(nodes: np.ndarray, values: np.ndarray, roots: np.ndarray, features: int
               ) -> dict[str, np.ndarray]:  # fmt: skip
    """The arrays of ``mm_masks_sum`` for the laid-out trees (``nodes``, ``values``, ``roots``
    as :func:`~modelmill.registry.tree_layout.tree_arrays` makes them; ``features``: the
    columns the nodes index), or :func:`no_masks` when a tree has more than 64 leaves.

    Splits are listed by feature (``mask_offsets[f]:mask_offsets[f + 1]``), by threshold
    within a feature; ``mask_kills`` has a 0 bit for each leaf of the split's true subtree."""
    size = len(nodes)
    left = nodes["left"].astype(np.int64)
    split = left != np.arange(size)
    tree = np.searchsorted(roots, np.arange(size), side="right") - 1
    leaves = np.bincount(tree[~split], minlength=len(roots))
    if len(roots) == 0 or leaves.max() > MAX_LEAVES:
        return no_masks()
    first, count = _leaf_ranges(left, split, roots)
    at = np.flatnonzero(split)
    true = left[at]
    ones = (np.uint64(1) << count[true].astype(np.uint64)) - np.uint64(1)  # at most 63 bits: the
    kills = ~(ones << first[true].astype(np.uint64))  # false subtree keeps one leaf at least
    raw = nodes["feature"][at]
    feature = (raw & 0x7FFFFFFF).astype(np.int64)
    thresholds = nodes["threshold"][at]
    order = np.lexsort((thresholds, feature))
    leaf_first = np.r_[0, np.cumsum(leaves)[:-1]].astype(np.int64)
    leaf_values = np.zeros(int(leaves.sum()), dtype=np.float64)
    ends = np.flatnonzero(~split)
    leaf_values[leaf_first[tree[ends]] + first[ends]] = values[ends]
    return {
        "mask_offsets": np.searchsorted(feature[order], np.arange(features + 1)).astype(np.int64),
        "mask_thresholds": np.ascontiguousarray(thresholds[order], dtype=np.float32),
        "mask_trees": tree[at][order].astype(np.int32),
        "mask_kills": kills[order],
        "mask_nan_right": (raw[order] < 0).astype(np.uint8),  # bit 31: a missing value goes right
        "leaf_first": leaf_first,
        "leaf_values": leaf_values,
    }
