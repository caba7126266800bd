"""TF-IDF from token indexes, computed on the few tokens a row has instead of a dense matrix.

modelmill's TF-IDF converter (:func:`modelmill.features.onnx_converters._tfidf_convert`)
writes, for token indexes fed as ``int64 [N, L]``: ``TfIdfVectorizer`` counts ``[N, W]``,
``Min(·, 1)`` when binary, a cast to double, ``Mul`` by the idf weights, an l2 norm
(``ReduceL2``, a zero norm taken as 1, ``Div``), a cast to float. Every step walks the whole
``[N, W]`` matrix: with the tuned boosting model's 400 terms that is 3.3 us a row on one core,
more than its 150 trees. A listing name has a handful of tokens, so the same numbers come
from those alone (:meth:`TextPlan.values`, float64 as the graph computes them). The cut
(:mod:`modelmill.registry.compiled_graph`) removes the chain from the first part, whose
input the output becomes; the chain is recognised exactly or left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelmill.registry.tree_layout import attributes

FLOAT, DOUBLE = 1, 11  # ONNX TensorProto element types


@dataclass(frozen=True)
class TextPlan:
    """One TF-IDF chain: ``output`` (float32 ``[N, width]``) from the ``tokens`` graph input;
    only the terms ``columns`` (in that order) when the trees read no others."""

    tokens: str
    output: str
    width: int
    binary: bool
    idf: tuple[float, ...] | None
    l2: bool
    columns: tuple[int, ...] | None = None

    def values(self, tokens: np.ndarray) -> np.ndarray:
        """``float32 [N, width or len(columns)]``: the chain's output for ``int64 [N, L]`` token
        indexes (-1 pads)."""
        rows_n, length = tokens.shape if tokens.ndim == 2 else (len(tokens), 1)
        kept = self.width if self.columns is None else len(self.columns)
        out = np.zeros((rows_n, kept), dtype=np.float32)
        if rows_n == 0 or length == 0:
            return out
        ordered = np.sort(tokens.reshape(rows_n, length), axis=1).ravel()
        valid = (ordered >= 0) & (ordered < self.width)  # what the vectorizer's pool counts
        new = np.ones(len(ordered), dtype=bool)
        new[1:] = ordered[1:] != ordered[:-1]
        new[::length] = True  # a row's first token starts a run even if the last row ended with it
        at = np.flatnonzero(new & valid)
        rows, terms = at // length, ordered[at]
        if self.binary:
            value = np.ones(len(at), dtype=np.float64)
        else:  # a run's length: the valid tokens up to the next run or the row's end
            ends = np.minimum(np.r_[at[1:], len(ordered)], (rows + 1) * length)
            counted = np.r_[0, np.cumsum(valid)]
            value = (counted[ends] - counted[at]).astype(np.float64)
        if self.idf is not None:
            value *= np.asarray(self.idf, dtype=np.float64)[terms]
        if self.l2:
            norm = np.sqrt(np.bincount(rows, weights=value * value, minlength=rows_n))
            norm[norm == 0] = 1.0
            value /= norm[rows]  # over every term: then only the kept ones are written
        if self.columns is not None:
            position = np.full(self.width, -1, dtype=np.int64)
            position[list(self.columns)] = np.arange(kept)
            terms = position[terms]
            rows, terms, value = rows[terms >= 0], terms[terms >= 0], value[terms >= 0]
        out[rows, terms] = value.astype(np.float32)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "output": self.output, "width": self.width, "binary": self.binary,
                "idf": None if self.idf is None else list(self.idf), "l2": self.l2,
                "columns": None if self.columns is None else list(self.columns)}  # fmt: skip

    @classmethod
    def from_json(cls, found: dict[str, Any]) -> TextPlan:
        idf, columns = found["idf"], found["columns"]
        return cls(str(found["tokens"]), str(found["output"]), int(found["width"]), bool(found["binary"]),
                   None if idf is None else tuple(float(x) for x in idf), bool(found["l2"]),
                   None if columns is None else tuple(int(x) for x in columns))  # fmt: skip


class GraphIndex:
    """Who reads each tensor, the graph's outputs and its constant initializers."""

    def __init__(self, graph: Any) -> None:
        from onnx import numpy_helper

        self.graph = graph
        self.readers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)
        self.constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.outputs = {o.name for o in graph.output}

    def uses(self, tensor: str) -> int:
        """How many nodes read ``tensor``, plus one if it is a graph output."""
        return len(self.readers.get(tensor, [])) + (tensor in self.outputs)

    def only_reader(self, tensor: str, op_type: str) -> Any | None:
        """The single node reading ``tensor`` if it is an ``op_type`` (and ``tensor`` no graph output)."""
        found = self.readers.get(tensor, [])
        if len(found) == 1 and found[0].op_type == op_type and tensor not in self.outputs:
            return found[0]
        return None

    def constant(self, name: str, value: float) -> bool:
        found = self.constants.get(name)
        return found is not None and found.size == 1 and float(found.ravel()[0]) == value


def _attribute(node: Any, name: str) -> Any:
    """One attribute of ``node`` (lists as Python lists), ``None`` when absent."""
    value = attributes(node).get(name)
    return value.tolist() if isinstance(value, np.ndarray) else value


def _counts_all_terms(node: Any, inputs: set[str]) -> int | None:
    """The width ``W`` when ``node`` counts unigram indexes ``0..W-1`` of a graph input, else ``None``."""
    pool = list(_attribute(node, "pool_int64s") or [])
    fixed = {"mode": "TF", "min_gram_length": 1, "max_gram_length": 1, "max_skip_count": 0}
    if node.input[0] not in inputs or any(_attribute(node, k) != v for k, v in fixed.items()):
        return None
    if list(_attribute(node, "ngram_counts") or []) != [0] or pool != list(range(len(pool))):
        return None
    return len(pool) if list(_attribute(node, "ngram_indexes") or []) == pool and pool else None


def _chain(g: GraphIndex, start: Any, width: int) -> tuple[list[Any], TextPlan] | None:
    """The nodes from ``start`` to the final float cast and what they compute, or ``None``."""
    nodes, tensor, binary, idf, l2 = [start], start.output[0], False, None, False
    low = g.only_reader(tensor, "Min")
    if low is not None and low.input[0] == tensor and g.constant(low.input[1], 1.0):
        nodes, tensor, binary = [*nodes, low], low.output[0], True
    cast = g.only_reader(tensor, "Cast")
    if cast is None or _attribute(cast, "to") != DOUBLE:
        return None
    nodes, tensor = [*nodes, cast], cast.output[0]
    mul = g.only_reader(tensor, "Mul")
    weights = g.constants.get(mul.input[1]) if mul is not None and mul.input[0] == tensor else None
    if mul is not None and weights is not None and weights.shape == (width,):
        nodes, tensor, idf = [*nodes, mul], mul.output[0], tuple(float(x) for x in weights)
    normed = _l2(g, tensor)
    if normed is not None:
        nodes, tensor, l2 = [*nodes, *normed], normed[-1].output[0], True
    last = g.only_reader(tensor, "Cast")
    if last is None or _attribute(last, "to") != FLOAT:
        return None
    return [*nodes, last], TextPlan(start.input[0], last.output[0], width, binary, idf, l2)


def _l2(g: GraphIndex, tensor: str) -> list[Any] | None:
    """``tensor / where(norm == 0, 1, norm)`` with ``norm = ReduceL2(tensor, axes=[1])``: its nodes."""
    found = {node.op_type: node for node in g.readers.get(tensor, [])}
    norm, div = found.get("ReduceL2"), found.get("Div")
    if len(g.readers.get(tensor, [])) != 2 or norm is None or div is None or tensor in g.outputs:
        return None
    if list(_attribute(norm, "axes") or []) != [1] or _attribute(norm, "keepdims") not in (None, 1):
        return None
    of_norm = g.readers.get(norm.output[0], [])
    readers = {node.op_type: node for node in of_norm}
    equal, where = readers.get("Equal"), readers.get("Where")
    if equal is None or where is None or len(of_norm) != 2 or not g.constant(equal.input[1], 0.0):
        return None
    if list(where.input) != [equal.output[0], where.input[1], norm.output[0]] or not g.constant(
        where.input[1], 1.0
    ):
        return None
    if list(div.input) != [tensor, where.output[0]] or g.only_reader(equal.output[0], "Where") is None:
        return None
    if g.only_reader(where.output[0], "Div") is None:
        return None
    return [norm, equal, where, div]


def cut_texts(model: Any) -> list[TextPlan]:
    """Remove each recognised TF-IDF chain from ``model``'s graph; its output becomes a graph
    input (float ``[N, W]``) that :meth:`TextPlan.values` computes from the token input."""
    from onnx import TensorProto, helper

    graph = model.graph
    g = GraphIndex(graph)
    inputs = {i.name for i in graph.input}
    plans: list[TextPlan] = []
    for node in [n for n in graph.node if n.op_type == "TfIdfVectorizer"]:
        width = _counts_all_terms(node, inputs)
        found = _chain(g, node, width) if width else None
        if found is None or found[1].output in g.outputs:
            continue
        for done in found[0]:
            graph.node.remove(done)
        plans.append(found[1])
        graph.input.append(helper.make_tensor_value_info(found[1].output, TensorProto.FLOAT, [None, width]))
    return plans
