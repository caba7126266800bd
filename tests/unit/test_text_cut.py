"""TF-IDF from the tokens a row has: the same float32 numbers as the graph's dense chain, for
every setting the converter writes, and a chain that is not exactly ours left to onnxruntime."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

from modelmill.registry.onnx_export import session
from modelmill.registry.text_cut import TextPlan, cut_texts

WIDTH = 9


def _chain(binary: bool, idf: bool, l2: bool, extra_reader: bool = False) -> object:
    """The converter's chain over token indexes ``[N, L]`` (``WIDTH`` terms), then ``Y = Identity``."""
    terms = list(range(WIDTH))
    nodes = [helper.make_node("TfIdfVectorizer", ["tokens"], ["counts"], domain="ai.onnx", mode="TF",
                              min_gram_length=1, max_gram_length=1, max_skip_count=0, ngram_counts=[0],
                              ngram_indexes=terms, pool_int64s=terms)]  # fmt: skip
    constants = [numpy_helper.from_array(np.array(1.0, np.float32), "one_f"),
                 numpy_helper.from_array(np.linspace(1.0, 3.5, WIDTH), "idf"),
                 numpy_helper.from_array(np.array(0.0), "zero"),
                 numpy_helper.from_array(np.array(1.0), "one")]  # fmt: skip
    value = "counts"
    if binary:
        nodes.append(helper.make_node("Min", [value, "one_f"], ["low"]))
        value = "low"
    nodes.append(helper.make_node("Cast", [value], ["wide"], to=TensorProto.DOUBLE))
    value = "wide"
    if idf:
        nodes.append(helper.make_node("Mul", [value, "idf"], ["weighted"]))
        value = "weighted"
    if l2:
        nodes += [helper.make_node("ReduceL2", [value], ["norm"], axes=[1], keepdims=1),
                  helper.make_node("Equal", ["norm", "zero"], ["is_zero"]),
                  helper.make_node("Where", ["is_zero", "one", "norm"], ["safe"]),
                  helper.make_node("Div", [value, "safe"], ["normed"])]  # fmt: skip
        value = "normed"
    nodes.append(helper.make_node("Cast", [value], ["tfidf"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Identity", ["tfidf"], ["Y"]))
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, WIDTH])]
    if extra_reader:  # the counts are also read elsewhere: the chain is not the converter's alone
        nodes.append(helper.make_node("Identity", ["counts"], ["also"]))
        outputs.append(helper.make_tensor_value_info("also", TensorProto.FLOAT, [None, WIDTH]))
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("tokens", TensorProto.INT64,
                              [None, None])], outputs, constants)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _tokens(rows: int = 300, length: int = 7) -> np.ndarray:
    """Indexes with repeats, -1 pads, empty rows and ids outside the vocabulary (not counted)."""
    rng = np.random.default_rng(4)
    tokens = rng.integers(-1, WIDTH + 3, size=(rows, length))
    tokens[::17] = -1
    tokens[1::23, :4] = 2  # a term four times
    return tokens


@pytest.mark.parametrize(("binary", "idf", "l2"), list(itertools.product([True, False], repeat=3)))
def test_the_few_tokens_give_the_chains_numbers(binary: bool, idf: bool, l2: bool) -> None:
    model = _chain(binary, idf, l2)
    tokens = _tokens()
    expected = session(model.SerializeToString()).run(None, {"tokens": tokens})[0]
    plans = cut_texts(model)
    assert [(p.binary, p.idf is not None, p.l2) for p in plans] == [(binary, idf, l2)]
    assert [n.op_type for n in model.graph.node] == ["Identity"]  # only what reads the output is left
    got = plans[0].values(tokens)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.array_equal(plans[0].values(tokens[:, :1]), session(_chain(binary, idf, l2).SerializeToString())
                          .run(None, {"tokens": tokens[:, :1]})[0])  # fmt: skip
    assert plans[0].values(tokens[:0]).shape == (0, WIDTH)


def test_a_chain_read_elsewhere_is_left_to_onnxruntime() -> None:
    model = _chain(True, True, True, extra_reader=True)
    before = len(model.graph.node)
    assert cut_texts(model) == [] and len(model.graph.node) == before


def test_a_plan_survives_its_json() -> None:
    plan = TextPlan("name", "tfidf", 3, True, (0.1, 2.0 / 3.0, 1e-300), True)
    assert TextPlan.from_json(plan.to_json()) == plan


def test_the_pipelines_text_column_is_computed_from_its_tokens(tmp_path: Path) -> None:
    """The exported model's listing names (odd ones too), as batch scoring feeds them."""
    import onnx

    from modelmill.registry.onnx_export import export_onnx
    from modelmill.registry.predictor import load_predictor
    from tests.unit.test_onnx import awkward, fitted

    pipeline, held_out = fitted("hist_gradient_boosting", "log1p")
    assert export_onnx(pipeline, held_out, tmp_path)["status"] == "ok"
    predictor = load_predictor(tmp_path)
    (plan,) = predictor.session.texts
    frame = pd.concat([held_out, awkward(held_out)], ignore_index=True)
    feeds = predictor.prepare(frame)
    model = onnx.load(str(tmp_path / "onnx" / "model.onnx"))
    wanted = helper.make_tensor_value_info(plan.output, TensorProto.FLOAT, [None, plan.width])
    model.graph.output.append(wanted)
    whole = session(model.SerializeToString())
    expected = dict(zip([o.name for o in whole.get_outputs()], whole.run(None, feeds), strict=True))
    assert plan.columns is not None and 0 < len(plan.columns) < plan.width  # only the terms a split reads
    assert np.array_equal(plan.values(feeds[plan.tokens]), expected[plan.output][:, list(plan.columns)])
    np.testing.assert_allclose(predictor.predict(frame), pipeline.predict(frame), rtol=1e-4)
