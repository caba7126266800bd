"""The compiled tree evaluator: ``_tree_kernel.c``, built once by :mod:`modelmill.core.native`.

Batch scoring spends nearly all its time walking trees (98% of the ONNX graph's time on the
course forest). No library we measured walks deep trees fast: on that forest (100 trees of
depth 15, 1,400 node visits a row) scikit-learn takes 11 us a row on one core, onnxruntime
about 20, tl2cgen's generated C 40, treelite's GTIL 120, a numba port 10. The kernel takes
about 2 (see its header for why), so it is ours. Without a compiler, or with
``MODELMILL_TREE_KERNEL=off``, :func:`load_kernel` says why and the caller keeps
onnxruntime's own tree evaluator.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from modelmill.core.native import KernelUnavailable, load_library
from modelmill.registry.tree_masks import no_masks

SOURCE = Path(__file__).with_name("_tree_kernel.c")
SWITCH_ENV = "MODELMILL_TREE_KERNEL"  # "off": never compile, keep onnxruntime's trees
BLOCK_ROWS = 2048  # rows that walk one tree before the next: its nodes stay in cache
MIN_SPLIT_ROWS = 2048  # rows per thread at least (a pool hand-off costs about 50 us: 20 rows' walk)
NODE_DTYPE = np.dtype([("threshold", "<f4"), ("left", "<i4"), ("feature", "<i4")])

__all__ = ["CompiledTrees", "KernelUnavailable", "load_kernel", "missing_fill"]


@lru_cache(maxsize=1)
def _typed(library: ctypes.CDLL) -> ctypes.CDLL:
    """``library`` with its functions' argument types set (once)."""
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    for walk in (library.mm_trees_sum, library.mm_trees_sum_finite):
        walk.argtypes = [pointer, size, size, pointer, pointer, pointer, pointer, size, size, pointer]
        walk.restype = None
    library.mm_masks_sum.argtypes = [pointer, size, size, size, *[pointer] * 7, size, pointer, pointer]
    library.mm_masks_sum.restype = None
    return library


def load_kernel() -> ctypes.CDLL:
    """The kernel library (built at the first call of a machine), or :class:`KernelUnavailable`."""
    if (os.environ.get(SWITCH_ENV) or "").lower() in ("0", "off", "false", "no"):
        raise KernelUnavailable(f"{SWITCH_ENV}=off")
    return _typed(load_library(SOURCE))


def missing_fill(nodes: np.ndarray, width: int) -> np.ndarray | None:
    """For each of ``width`` columns, the value a missing one can be replaced by without changing
    any row's leaf: ``+inf`` where every split on the column sends it right (``+inf`` exceeds
    every threshold, all below ``+inf``), ``-inf`` where every one sends it left (``-inf``
    exceeds none). ``None`` when a column's splits disagree, or a right-going one's threshold
    is not below ``+inf``: then rows with missing values take the walk that tests for them."""
    split = nodes["left"] != np.arange(len(nodes))  # a leaf points at itself
    feature = nodes["feature"][split].view(np.uint32)
    column = (feature & 0x7FFFFFFF).astype(np.int64)
    right = feature >> 31 == 1
    if not np.all(nodes["threshold"][split][right] < np.inf):  # NaN compares False too
        return None
    goes_right = np.bincount(column[right], minlength=width)
    if np.any((goes_right > 0) & (goes_right < np.bincount(column, minlength=width))):
        return None
    return np.where(goes_right > 0, np.inf, -np.inf).astype(np.float32)


@dataclass
class CompiledTrees:
    """A tree ensemble laid out for the kernel: the sum of each row's leaves, plus ``base``.

    ``nodes`` is :data:`NODE_DTYPE`, every tree contiguous and breadth-first; ``roots`` and
    ``depths`` index and bound each tree; ``values`` holds a leaf's value (0 for a split).
    When every tree has at most 64 leaves, the ``mask_*`` and ``leaf_*`` arrays
    (:mod:`modelmill.registry.tree_masks`) are filled and the trees are evaluated from them
    instead of walked."""

    nodes: np.ndarray
    values: np.ndarray
    roots: np.ndarray
    depths: np.ndarray
    columns: int  # the fewest columns X must have (the highest feature a split reads, plus one;
    # for a cut graph, whose first part hands over only the columns read, all of them)
    used: np.ndarray  # the columns of X the splits read; ``nodes`` index into X[:, used]
    base: float = 0.0
    scale: float = 1.0  # 1 / trees for an averaged ensemble
    mask_offsets: np.ndarray = field(default_factory=lambda: no_masks()["mask_offsets"])
    mask_thresholds: np.ndarray = field(default_factory=lambda: no_masks()["mask_thresholds"])
    mask_trees: np.ndarray = field(default_factory=lambda: no_masks()["mask_trees"])
    mask_kills: np.ndarray = field(default_factory=lambda: no_masks()["mask_kills"])
    mask_nan_right: np.ndarray = field(default_factory=lambda: no_masks()["mask_nan_right"])
    leaf_first: np.ndarray = field(default_factory=lambda: no_masks()["leaf_first"])
    leaf_values: np.ndarray = field(default_factory=lambda: no_masks()["leaf_values"])
    threads: int = 1
    library: ctypes.CDLL = field(default_factory=load_kernel, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _fill: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._fill = None if len(self.leaf_values) else missing_fill(self.nodes, len(self.used))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``float64 [N]``: the ensemble's value for each row of ``X`` (``float32 [N, >= columns]``)."""
        if X.ndim != 2 or X.shape[1] < self.columns:
            raise ValueError(f"the trees read {self.columns} columns, got an array of shape {X.shape}")
        if len(self.used) < X.shape[1]:
            X = X[:, self.used]
        X = np.ascontiguousarray(X, dtype=np.float32)
        finite = False
        if not len(self.leaf_values):  # walked: a block without missing values walks faster
            X, finite = self._filled(X)
        out = np.zeros(len(X), dtype=np.float64)
        parts = max(1, min(self.threads, len(X) // MIN_SPLIT_ROWS))
        if parts == 1:
            self._sum(X, out, finite)
        else:
            bounds = np.linspace(0, len(X), parts + 1).astype(int)
            slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]
            list(self._executor().map(lambda s: self._sum(X[s], out[s], finite), slices))
        out *= self.scale
        out += self.base
        return out

    @property
    def evaluator(self) -> str:
        """How the rows find their leaves: ``leaf masks`` (small trees) or ``full-depth walk``."""
        return "leaf masks" if len(self.leaf_values) else "full-depth walk"

    def _filled(self, X: np.ndarray) -> tuple[np.ndarray, bool]:
        """``X`` and whether it has no missing value now: each is replaced by its column's fill
        (a new array; the caller's is left alone), unless some column has no fill."""
        missing = np.isnan(X)
        if not missing.any():
            return X, True
        if self._fill is None:
            return X, False
        return np.where(missing, self._fill, X), True

    def _sum(self, X: np.ndarray, out: np.ndarray, finite: bool = False) -> None:
        if len(self.leaf_values):
            live = np.empty(len(self.roots), dtype=np.uint64)  # this slice's scratch
            self.library.mm_masks_sum(
                X.ctypes.data, len(X), X.shape[1], len(self.mask_offsets) - 1, self.mask_offsets.ctypes.data,
                self.mask_thresholds.ctypes.data, self.mask_trees.ctypes.data, self.mask_kills.ctypes.data,
                self.mask_nan_right.ctypes.data, self.leaf_first.ctypes.data, self.leaf_values.ctypes.data,
                len(self.roots), live.ctypes.data, out.ctypes.data,
            )  # fmt: skip
            return
        walk = self.library.mm_trees_sum_finite if finite else self.library.mm_trees_sum
        walk(
            X.ctypes.data, len(X), X.shape[1], self.nodes.ctypes.data, self.values.ctypes.data,
            self.roots.ctypes.data, self.depths.ctypes.data, len(self.roots), BLOCK_ROWS, out.ctypes.data,
        )  # fmt: skip

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="modelmill-trees")
            return self._pool
