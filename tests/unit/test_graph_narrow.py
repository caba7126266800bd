"""The trees' columns taken from each part of the encoding: the same predictions as the whole
graph, a part no split reads left out, a TF-IDF part computing only the terms read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

from modelmill.registry.compiled_graph import compile_graph, split_graph
from modelmill.registry.onnx_export import session

TERMS = 9
# Concat(a [3], imputed b [2], c [2], tfidf [9]): the stumps read a[0], a[2], b whole, terms 1 and 5
READ = [0, 2, 3, 4, 8, 12]


def _stumps() -> object:
    """One stump per read column: ``x <= 0.25 ? k : -k`` (exact in float32)."""
    count = len(READ)
    return helper.make_node(
        "TreeEnsembleRegressor", ["features"], ["Y"], domain="ai.onnx.ml", n_targets=1,
        nodes_treeids=[t for t in range(count) for _ in range(3)], nodes_nodeids=[0, 1, 2] * count,
        nodes_featureids=[f for f in READ for _ in range(3)], nodes_values=[0.25, 0.0, 0.0] * count,
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"] * count, nodes_truenodeids=[1, 0, 0] * count,
        nodes_falsenodeids=[2, 0, 0] * count, nodes_missing_value_tracks_true=[1, 0, 0] * count,
        target_treeids=[t for t in range(count) for _ in range(2)], target_nodeids=[1, 2] * count,
        target_ids=[0] * 2 * count, target_weights=[w for t in range(count) for w in (t + 1.0, -t - 1.0)],
    )  # fmt: skip


def _model(folder: Path) -> Path:
    terms = list(range(TERMS))
    nodes = [
        helper.make_node("Imputer", ["b"], ["b_filled"], domain="ai.onnx.ml", imputed_value_floats=[0.5],
                         replaced_value_float=float("nan")),
        helper.make_node("TfIdfVectorizer", ["tokens"], ["counts"], mode="TF", min_gram_length=1,
                         max_gram_length=1, max_skip_count=0, ngram_counts=[0], ngram_indexes=terms,
                         pool_int64s=terms),
        helper.make_node("Cast", ["counts"], ["wide"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["wide", "idf"], ["weighted"]),
        helper.make_node("Cast", ["weighted"], ["tfidf"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["a", "b_filled", "c", "tfidf"], ["joined"], axis=1),
        helper.make_node("Cast", ["joined"], ["features"], to=TensorProto.FLOAT),
        _stumps(),
    ]
    inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 3]),
              helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, 2]),
              helper.make_tensor_value_info("c", TensorProto.FLOAT, [None, 2]),
              helper.make_tensor_value_info("tokens", TensorProto.INT64, [None, None])]  # fmt: skip
    idf = numpy_helper.from_array(np.linspace(0.1, 0.9, TERMS), "idf")
    graph = helper.make_graph(nodes, "parts", inputs, [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                              [None, 1])], [idf])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("ai.onnx.ml", 3)])  # fmt: skip
    model.ir_version = 8
    path = folder / "parts.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _feeds(rows: int = 500) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    feeds = {name: rng.uniform(-0.5, 1.0, size=(rows, width)).astype(np.float32)
             for name, width in (("a", 3), ("b", 2), ("c", 2))}  # fmt: skip
    feeds["a"][::9, 2] = np.nan
    feeds["b"][::5, 0] = np.nan  # imputed to 0.5: goes right
    feeds["tokens"] = rng.integers(-1, TERMS, size=(rows, 4))
    return feeds


def test_the_parts_give_the_whole_graphs_predictions(tmp_path: Path) -> None:
    path, feeds = _model(tmp_path), _feeds()
    expected = session(path).run(None, feeds)[0]
    compiled = compile_graph(path)
    got = compiled.run(None, feeds)[0]
    assert compiled._fallback is None  # the parts answered, not the whole graph after a failure
    assert np.array_equal(got, expected)


def test_a_part_no_split_reads_is_left_out_and_the_text_computes_only_read_terms(tmp_path: Path) -> None:
    import onnx

    split = split_graph(_model(tmp_path).read_bytes())
    before = onnx.load_model_from_string(split.before).graph
    read = {name for node in before.node for name in node.input}
    assert "c" not in read  # no split reads it
    assert [n.op_type for n in before.node].count("Gather") == 1  # a[:, [0, 2]]; b is read whole
    assert [plan.columns for plan in split.texts] == [(1, 5)]
    widest = max(d.dim_value for i in before.input for d in i.type.tensor_type.shape.dim)
    assert widest == 3  # the TF-IDF input now holds its two read terms, not nine


def test_an_unexpected_shape_keeps_the_plain_gather(tmp_path: Path) -> None:
    """Without a Concat before the trees there is nothing to narrow: the cut still works."""
    import onnx

    model = onnx.load(str(_model(tmp_path)))
    graph = model.graph
    concat = next(n for n in graph.node if n.op_type == "Concat")
    graph.node.insert(list(graph.node).index(concat) + 1, helper.make_node("Relu", ["joined"], ["positive"]))
    next(n for n in graph.node if n.op_type == "Cast" and n.input[0] == "joined").input[0] = "positive"
    path = tmp_path / "relu.onnx"
    path.write_bytes(model.SerializeToString())
    feeds = _feeds()
    split = split_graph(path.read_bytes())
    assert [plan.columns for plan in split.texts] == [None]
    compiled = compile_graph(path)
    assert np.array_equal(compiled.run(None, feeds)[0], session(path).run(None, feeds)[0])
    assert compiled._fallback is None
