"""An exported ONNX graph run in three parts: onnxruntime, the compiled trees, onnxruntime.

The graph modelmill exports is encoding (imputers, one-hot, TF-IDF: 2% of its time on the
course forest), one ``TreeEnsembleRegressor`` (98%), and sometimes a little arithmetic after
it (``exp(y) - 1`` for a log target). :func:`compile_graph` cuts it at the tree node: the
encoding becomes one onnxruntime session that ends at the trees' input, the trees are
evaluated by :mod:`modelmill.registry.tree_kernel`, and what came after is a second, tiny
session. :class:`CompiledGraph` has onnxruntime's ``run(names, feeds)``, so the predictor
uses it as it would the session, and its outputs have the graph's own types (the trees'
float32 output). A TF-IDF over token indexes is taken out of the first part too and computed
from each row's few tokens (:mod:`modelmill.registry.text_cut`): with 400 terms, its dense
form cost the boosting model more than its trees.

A graph this cannot evaluate exactly (no tree node or several, a classifier's, unsupported
split modes) or a machine without a C compiler gets a :class:`GraphNotCompiled` naming the
reason; the caller then keeps the whole graph in onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelmill.core.machine import cores
from modelmill.registry.graph_narrow import ancestors, narrow_parts
from modelmill.registry.onnx_export import session
from modelmill.registry.text_cut import TextPlan, cut_texts
from modelmill.registry.tree_kernel import CompiledTrees, KernelUnavailable, load_kernel
from modelmill.registry.tree_layout import UnsupportedTrees, tree_arrays

TREE_OP = "TreeEnsembleRegressor"


class GraphNotCompiled(RuntimeError):
    """Why the graph's trees stay in onnxruntime. ``lasting``: a property of the graph (cached
    with it), not of this machine or this moment."""

    def __init__(self, reason: str, lasting: bool = True) -> None:
        super().__init__(reason)
        self.lasting = lasting


@dataclass
class CompiledGraph:
    """``before`` (onnxruntime) -> ``trees`` (the kernel) -> ``after`` (onnxruntime, optional)."""

    before: Any
    trees: CompiledTrees
    trees_in: str  # the tensor the trees read (an output of ``before``)
    trees_out: str  # the tensor they write
    passed: list[str]  # outputs of ``before`` that ``after`` also reads
    after: Any | None
    outputs: list[str]  # the graph's outputs, in order
    texts: list[TextPlan] = field(default_factory=list)  # TF-IDF computed here, fed to ``before``
    whole: Callable[[], Any] | None = None  # the uncut graph's session, made if a part ever fails
    _fallback: Any = field(default=None, init=False, repr=False)

    def run(self, names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The graph's outputs ``names`` (all when ``None``) for ``feeds``, as onnxruntime's ``run``.
        Should a part fail where the uncut graph would not (a type the cut got wrong), the
        uncut graph answers this call and every later one: a job never stops for the cut."""
        if self._fallback is not None:
            return list(self._fallback.run(names, feeds))
        try:
            return self._run(names, feeds)
        except Exception:
            if self.whole is None:
                raise
            self._fallback = self.whole()
            return list(self._fallback.run(names, feeds))

    def _run(self, names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if self.texts:
            feeds = {**feeds, **{plan.output: plan.values(feeds[plan.tokens]) for plan in self.texts}}
        made = self.before.run(None, feeds)
        early = {**feeds, **dict(zip([o.name for o in self.before.get_outputs()], made, strict=True))}
        values = self.trees.predict(early[self.trees_in]).astype(np.float32).reshape(-1, 1)
        found = {**early, self.trees_out: values}
        if self.after is not None:
            late = self.after.run(None, {self.trees_out: values, **{n: early[n] for n in self.passed}})
            found.update(zip([o.name for o in self.after.get_outputs()], late, strict=True))
        return [found[name] for name in (names or self.outputs)]


def _tree_node(graph: Any) -> Any:
    found = [n for n in graph.node if n.op_type.startswith("TreeEnsemble")]
    if len(found) != 1 or found[0].op_type != TREE_OP:
        kinds = sorted({n.op_type for n in found}) or ["none"]
        raise GraphNotCompiled(f"the graph's tree nodes are {', '.join(kinds)} (one {TREE_OP} is compiled)")
    return found[0]


def _subgraph(model: Any, nodes: list[Any], inputs: list[Any], outputs: list[str], types: dict[str, Any]
              ) -> bytes:  # fmt: skip
    from onnx import helper

    used = {name for node in nodes for name in node.input}
    initializers = [t for t in model.graph.initializer if t.name in used]
    graph = helper.make_graph(nodes, "part", inputs, _exchanged(types, outputs), initializers)
    part = helper.make_model(graph, opset_imports=list(model.opset_import))
    part.ir_version = model.ir_version
    return bytes(part.SerializeToString())


def _types(model: Any, trees_in: str, trees_out: str) -> dict[str, Any]:
    """The value info (type, shape when known) of the tensors the parts exchange: the trees
    read and write float32 matrices; others as shape inference finds them (it does not know
    every ``ai.onnx.ml`` operator, which is fine as long as the parts do not pass those).
    ``model`` no longer has its tree node: inference then copies a small graph, not a forest."""
    from onnx import TensorProto, helper, shape_inference

    found = {trees_out: helper.make_tensor_value_info(trees_out, TensorProto.FLOAT, [None, 1])}
    model.graph.input.append(found[trees_out])
    inferred = shape_inference.infer_shapes(model).graph
    model.graph.input.pop()
    found.update({v.name: v for v in [*inferred.value_info, *inferred.input, *inferred.output]})
    found.update({v.name: v for v in [*model.graph.input, *model.graph.output]})
    found[trees_in] = helper.make_tensor_value_info(trees_in, TensorProto.FLOAT, [None, None])
    return found


def _exchanged(types: dict[str, Any], names: list[str]) -> list[Any]:
    missing = [name for name in names if name not in types]
    if missing:
        raise GraphNotCompiled(f"the type of {', '.join(missing)} is not known from the graph")
    return [types[name] for name in names]


@dataclass
class GraphSplit:
    """The graph cut at its trees, as plain data (what :mod:`~modelmill.registry.graph_cache`
    keeps): the two parts serialized, the trees' arrays and the names that join them."""

    before: bytes
    after: bytes | None
    trees: dict[str, Any]  # CompiledTrees' fields but ``threads`` and ``library``
    trees_in: str
    trees_out: str
    passed: list[str]
    outputs: list[str]
    texts: list[TextPlan] = field(default_factory=list)


def split_graph(blob: bytes) -> GraphSplit:
    """Cut the serialized graph ``blob`` at its tree node, or :class:`GraphNotCompiled` (why not)."""
    import onnx

    try:
        model = onnx.load_model_from_string(blob)
        graph = model.graph
        tree = _tree_node(graph)
        trees_in, trees_out = tree.input[0], tree.output[0]
        trees = tree_arrays(tree)
        graph.node.remove(tree)  # the forest's attributes go with it: what is left is small
        trees_in = _narrowed(model, trees_in, trees)
        texts = narrow_parts(model, trees_in, cut_texts(model))
        types = _types(model, trees_in, trees_out)
        early = ancestors(graph, [trees_in])
        outputs = [o.name for o in graph.output]
        late = ancestors(graph, outputs) - early  # nodes neither part needs (a part no split reads): dropped
        before = [n for i, n in enumerate(graph.node) if i in early]
        after = [n for i, n in enumerate(graph.node) if i in late]
        made = {out for node in after for out in node.output}
        given = made | {t.name for t in graph.initializer} | {trees_out, ""}
        passed = sorted({name for node in after for name in node.input if name not in given})
        early_out = [trees_in, *passed, *(o for o in outputs if o not in made and o != trees_out)]
        first = _subgraph(model, before, list(graph.input), list(dict.fromkeys(early_out)), types)
        last = None
        if after:
            late_in = _exchanged(types, [trees_out, *passed])
            last = _subgraph(model, after, late_in, [o for o in outputs if o in made], types)
    except UnsupportedTrees as exc:
        raise GraphNotCompiled(str(exc)) from None
    except GraphNotCompiled:
        raise
    except Exception as exc:  # onnx refused a part: the whole graph still runs (not cached)
        raise GraphNotCompiled(_failed(exc), lasting=False) from None
    return GraphSplit(first, last, trees, trees_in, trees_out, passed, outputs, texts)


def _narrowed(model: Any, trees_in: str, trees: dict[str, Any]) -> str:
    """A tensor of only the columns the splits read (``trees["used"]``), gathered at the end of
    the first part; ``trees`` then reads all of it. The wide matrix (400 TF-IDF columns, 180
    read by the boosting model) stays in onnxruntime's reused memory instead of being handed
    to Python and copied (a fresh 40 MB per 16,384 rows each time, faulted in page by page)."""
    from onnx import helper, numpy_helper

    used = np.asarray(trees["used"], dtype=np.int64)
    taken = f"{trees_in}__modelmill_used"
    model.graph.initializer.append(numpy_helper.from_array(used, name=f"{taken}_columns"))
    model.graph.node.append(helper.make_node("Gather", [trees_in, f"{taken}_columns"], [taken], axis=1))
    trees.update(used=np.arange(len(used), dtype=used.dtype), columns=len(used))
    return taken


def _failed(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"the graph could not be cut at its trees ({type(exc).__name__}: {first})"


def compile_graph(path: Path, threads: int | None = None) -> CompiledGraph:
    """``path``'s graph with its trees on the kernel, or :class:`GraphNotCompiled` saying why not.
    The cut is cached per graph (:func:`~modelmill.registry.graph_cache.cached_split`)."""
    from modelmill.registry.graph_cache import cached_split

    try:
        library = load_kernel()
    except KernelUnavailable as exc:
        raise GraphNotCompiled(str(exc)) from None
    try:
        split = cached_split(path, split_graph)
        first = session(split.before, threads)
        last = session(split.after, threads) if split.after is not None else None
        trees = CompiledTrees(**split.trees, threads=threads or cores(), library=library)
    except GraphNotCompiled:
        raise
    except Exception as exc:  # onnxruntime refused a part, the cache failed: the whole graph runs
        raise GraphNotCompiled(_failed(exc), lasting=False) from None
    return CompiledGraph(first, trees, split.trees_in, split.trees_out, split.passed, last, split.outputs,
                         split.texts, whole=lambda: session(path, threads))  # fmt: skip
