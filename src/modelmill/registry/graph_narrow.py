"""Take the trees' columns from each part of the encoding instead of from their concatenation.

The exported encoding ends in ``Concat`` (numbers, one-hot, dates, TF-IDF), usually a cast to
float, then the cut's ``Gather`` of the columns the splits read
(:func:`modelmill.registry.compiled_graph._narrowed`). On the tuned boosting model that is
414 columns copied twice to keep 179. Here the ``Gather`` moves onto the parts: a part none
of whose columns is read drops out of the first part altogether, a part read whole is
concatenated as it is, and a TF-IDF computed outside the graph
(:mod:`modelmill.registry.text_cut`) computes only the terms read. The parts' widths come from
running the encoding once on one made-up row (shape inference does not know the
``ai.onnx.ml`` operators). Anything unexpected leaves the graph as it was.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from modelmill.registry.text_cut import FLOAT, GraphIndex, TextPlan
from modelmill.registry.tree_layout import attributes


def ancestors(graph: Any, tensors: list[str]) -> set[int]:
    """Indexes of the nodes ``tensors`` are computed from."""
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    wanted, seen = list(tensors), set()
    while wanted:
        index = producer.get(wanted.pop())
        if index is not None and index not in seen:
            seen.add(index)
            wanted.extend(graph.node[index].input)
    return seen


_DUMMY = {1: np.float32, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_, 8: np.object_}


def _dummy(value_info: Any) -> np.ndarray:
    """One made-up row for a graph input: NaN, -1, False or an empty string."""
    kind = _DUMMY[value_info.type.tensor_type.elem_type]
    dims = [d.dim_value or 1 for d in value_info.type.tensor_type.shape.dim] or [1]
    dims[0] = 1
    fills: dict[Any, Any] = {np.object_: "", np.bool_: False, np.int64: -1, np.int32: -1}
    fill = fills.get(kind, np.nan)
    return np.full(dims, fill, dtype=kind)


def _probe(model: Any, names: list[str]) -> list[np.ndarray]:
    """The tensors ``names`` for one made-up row (raises if the encoding cannot run on it)."""
    from onnx import ValueInfoProto, helper

    from modelmill.registry.onnx_export import session

    early = ancestors(model.graph, names)
    nodes = [n for i, n in enumerate(model.graph.node) if i in early]
    used = {name for node in nodes for name in node.input}
    outputs = [ValueInfoProto(name=name) for name in names]
    constants = [t for t in model.graph.initializer if t.name in used]
    graph = helper.make_graph(nodes, "probe", list(model.graph.input), outputs, constants)
    probe = helper.make_model(graph, opset_imports=list(model.opset_import))
    probe.ir_version = model.ir_version
    runner = session(probe.SerializeToString(), 1)
    return list(runner.run(names, {i.name: _dummy(i) for i in model.graph.input}))


def _chain(graph: Any, taken: str) -> tuple[Any, Any, Any, np.ndarray] | None:
    """``Gather(Cast?(Concat(parts)), columns)`` ending in ``taken``: its three nodes and columns."""
    producer = {out: node for node in graph.node for out in node.output}
    index = GraphIndex(graph)
    gather = producer.get(taken)
    if gather is None or gather.op_type != "Gather" or gather.input[1] not in index.constants:
        return None
    columns = index.constants[gather.input[1]]
    source, cast = gather.input[0], None
    node = producer.get(source)
    is_cast = node is not None and node.op_type == "Cast" and attributes(node).get("to") == FLOAT
    if is_cast and node is not None and index.uses(source) == 1:
        cast, source = node, node.input[0]
        node = producer.get(source)
    if node is None or node.op_type != "Concat" or attributes(node).get("axis") not in (1, -1):
        return None
    if index.uses(source) != 1 or len(set(node.input)) != len(node.input) or np.any(np.diff(columns) <= 0):
        return None
    return gather, cast, node, columns


def narrow_parts(model: Any, taken: str, plans: list[TextPlan]) -> list[TextPlan]:
    """Rewrite the graph's ``Gather`` ending in ``taken`` onto the parts of its ``Concat``; the
    text plans, narrowed to the terms read. Unchanged when the shape is not that."""
    from onnx import helper, numpy_helper

    graph = model.graph
    found = _chain(graph, taken)
    if found is None:
        return plans
    gather, cast, concat, columns = found
    parts = list(concat.input)
    try:
        probed = _probe(model, parts)
    except Exception:  # onnxruntime refused the made-up row: keep the plain gather
        return plans
    if any(p.ndim != 2 for p in probed) or len({p.dtype for p in probed}) != 1:
        return plans
    widths = [p.shape[1] for p in probed]
    if columns.max(initial=-1) >= sum(widths):  # the parts are not what the trees read
        return plans
    index, by_output = GraphIndex(graph), {plan.output: plan for plan in plans}
    inputs = {i.name: i for i in graph.input}
    kept, offsets = [], np.cumsum([0, *widths])
    for name, first, width in zip(parts, offsets, widths, strict=False):
        chosen = columns[(columns >= first) & (columns < first + width)] - first
        if not len(chosen):
            continue
        plan = by_output.get(name)
        if plan is not None and index.uses(name) == 1 and name in inputs:
            by_output[name] = dataclasses.replace(plan, columns=tuple(int(c) for c in chosen))
            inputs[name].type.tensor_type.shape.dim[1].dim_value = len(chosen)
        elif len(chosen) != width:
            picked = f"{name}__modelmill_read"
            graph.initializer.append(numpy_helper.from_array(chosen.astype(np.int64), f"{picked}_columns"))
            graph.node.append(helper.make_node("Gather", [name, f"{picked}_columns"], [picked], axis=1))
            name = picked
        kept.append(name)
    for node in (gather, cast, concat):
        if node is not None:
            graph.node.remove(node)
    joined = taken if probed[0].dtype == np.float32 else f"{taken}__joined"
    graph.node.append(helper.make_node("Concat", kept, [joined], axis=1))
    if joined != taken:
        graph.node.append(helper.make_node("Cast", [joined], [taken], to=FLOAT))
    return [by_output[plan.output] for plan in plans]
