"""The compiled tree evaluator: the same values as onnxruntime on the same graph, and a clear
fallback (with the reason) wherever it cannot run."""

from __future__ import annotations

import re
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    RandomForestRegressor,
)

from modelmill.core import native
from modelmill.registry import tree_kernel
from modelmill.registry.compiled_graph import GraphNotCompiled, compile_graph
from modelmill.registry.onnx_export import session
from tests.data_tables import PROJECT_TABLES, fair


def _table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Numeric features (float32, NaN kept) and the target of a table shipped inside a package."""
    load, target = {**PROJECT_TABLES, "fair": (fair, "affairs")}[name]
    frame = load().dropna(subset=[target])
    numbers = frame.drop(columns=[target]).select_dtypes("number")
    return numbers.to_numpy(np.float32), frame[target].to_numpy(np.float64)


def _export(estimator: object, X: np.ndarray, folder: Path) -> Path:
    from skl2onnx import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = to_onnx(estimator, X[:1])
    path = folder / "model.onnx"
    path.write_bytes(graph.SerializeToString())
    return path


def _both(path: Path, X: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    reference = session(path)
    name = reference.get_inputs()[0].name
    expected = reference.run(None, {name: X})[0].ravel()
    got = compile_graph(path, threads).run(None, {name: X})[0].ravel()
    return got, expected


@pytest.mark.parametrize("table", ["diabetes", "cars", "fair", "grunfeld"])
def test_a_forest_gives_onnxruntimes_values_on_real_tables(table: str, tmp_path: Path) -> None:
    X, y = _table(table)
    train = ~np.isnan(X).any(axis=1)  # fitted on complete rows, asked about every row
    forest = RandomForestRegressor(25, max_depth=10, random_state=0).fit(X[train], y[train])
    got, expected = _both(_export(forest, X[train], tmp_path), X)
    assert got.dtype == np.float32 and len(got) == len(X)
    # onnxruntime sums float32 leaves, the kernel float64 then rounds: at most an ulp or two apart
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(got[train], forest.predict(X[train]), rtol=1e-5)


def test_missing_values_take_the_branch_onnxruntime_takes(tmp_path: Path) -> None:
    X, y = _table("cars")  # Horsepower has missing values
    assert np.isnan(X).any()
    forest = ExtraTreesRegressor(15, max_depth=9, random_state=1).fit(np.nan_to_num(X, nan=-1), y)
    got, expected = _both(_export(forest, X, tmp_path), X)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)


def test_boosting_with_a_base_value_and_rows_split_over_threads(tmp_path: Path) -> None:
    X, y = _table("fair")
    rows = np.resize(np.arange(len(X)), 3 * tree_kernel.MIN_SPLIT_ROWS)  # large enough to split
    boosting = GradientBoostingRegressor(n_estimators=40, max_depth=3, random_state=0).fit(X, y)
    path = _export(boosting, X, tmp_path)
    got, expected = _both(path, X[rows], threads=2)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-5)
    one, _ = _both(path, X[rows], threads=1)
    assert np.array_equal(one, got)  # a row's sum does not depend on which thread walked it


def test_leaf_wise_boosting_is_evaluated_from_leaf_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Boosting grown leaf-wise (a few long branches, most leaves shallow), as the pipeline
    exports it: too lopsided to walk, small enough (31 leaves a tree) for leaf masks."""
    from modelmill.registry.onnx_export import export_onnx
    from modelmill.registry.predictor import load_predictor
    from tests.unit.test_onnx import fitted

    pipeline, held_out = fitted("hist_gradient_boosting", "log1p")
    assert export_onnx(pipeline, held_out, tmp_path)["status"] == "ok"
    compiled = load_predictor(tmp_path)
    assert compiled.trees == "compiled (leaf masks)"
    monkeypatch.setenv("MODELMILL_TREE_KERNEL", "off")
    whole = load_predictor(tmp_path)
    np.testing.assert_allclose(compiled.predict(held_out), whole.predict(held_out), rtol=5e-6)
    np.testing.assert_allclose(compiled.predict(held_out), pipeline.predict(held_out), rtol=1e-4)


def _one_node_file(node: object, columns: int, path: Path) -> Path:
    """A graph of the tree node alone (``X`` float ``[N, columns]`` in, ``Y`` out), written to ``path``."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [node], path.stem, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, columns])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    path.write_bytes(model.SerializeToString())
    return path


def _caterpillar(folder: Path, splits: int) -> Path:
    """One tree, every split's true child a leaf: ``x0 <= k + 0.5`` at depth k gives leaf k (value
    k + 1), and the last false child is leaf ``splits``; ``splits + 1`` leaves, as lopsided as a tree
    gets. A missing x0 goes right at splits 0 and 1 and left (true) at split 2."""
    from onnx import helper

    leaves = list(range(splits, 2 * splits + 1))
    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1,
        nodes_treeids=[0] * (2 * splits + 1), nodes_nodeids=list(range(2 * splits + 1)),
        nodes_featureids=[0] * (2 * splits + 1),
        nodes_values=[k + 0.5 for k in range(splits)] + [0.0] * len(leaves),
        nodes_modes=["BRANCH_LEQ"] * splits + ["LEAF"] * len(leaves),
        nodes_truenodeids=[splits + k for k in range(splits)] + [0] * len(leaves),
        nodes_falsenodeids=[*range(1, splits), 2 * splits] + [0] * len(leaves),
        nodes_missing_value_tracks_true=[int(k == 2) for k in range(splits)] + [0] * len(leaves),
        target_treeids=[0] * len(leaves), target_nodeids=leaves, target_ids=[0] * len(leaves),
        target_weights=[float(k + 1) for k in range(len(leaves))],
    )  # fmt: skip
    return _one_node_file(node, 1, folder / f"caterpillar{splits}.onnx")


def test_a_tree_of_64_leaves_uses_every_bit_of_its_mask(tmp_path: Path) -> None:
    X = np.r_[np.linspace(-2, 66, 400), np.nan, 63.4, 63.6].astype(np.float32).reshape(-1, 1)
    got, expected = _both(_caterpillar(tmp_path, 63), X)
    assert compile_graph(_caterpillar(tmp_path, 63)).trees.evaluator == "leaf masks"
    assert np.array_equal(got, expected)
    assert got[-3] == 3.0 and got[-2] == 64.0 and got[-1] == 64.0 and got[0] == 1.0


def test_lopsided_trees_of_more_than_64_leaves_stay_in_onnxruntime_and_say_why(tmp_path: Path) -> None:
    with pytest.raises(GraphNotCompiled, match=r"lopsided trees: a full-depth walk is \d\.\d\dx the mean "
                       r"leaf depth, over the kernel's 1\.4x"):  # fmt: skip
        compile_graph(_caterpillar(tmp_path, 64))


@pytest.mark.parametrize("table", ["cars", "fair", "diabetes"])
def test_leaf_masks_and_the_walk_give_the_same_sums(table: str, tmp_path: Path) -> None:
    """Boosting that routes missing values itself (learned per split), on real tables."""
    from dataclasses import replace

    from sklearn.ensemble import HistGradientBoostingRegressor

    from modelmill.features.onnx_converters import conversion_fixes
    from modelmill.registry.tree_masks import no_masks

    X, y = _table(table)
    boosting = HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=40, random_state=0).fit(X, y)
    with conversion_fixes():  # modelmill's HistGradientBoosting converter, as the pipeline exports
        graph = compile_graph(_export(boosting, X, tmp_path))
    assert graph.trees.evaluator == "leaf masks"
    walked = replace(graph.trees, **no_masks())
    assert walked.evaluator == "full-depth walk"
    rows = np.resize(np.arange(len(X)), 3 * tree_kernel.MIN_SPLIT_ROWS)  # over two threads
    wide = X[rows]
    assert np.array_equal(graph.trees.predict(wide), walked.predict(wide))
    expected = boosting.predict(X)
    np.testing.assert_allclose(graph.run(None, {"X": X})[0].ravel(), expected, rtol=1e-5, atol=1e-5)


def test_trees_without_a_split_give_their_leaf(tmp_path: Path) -> None:
    X, _ = _table("grunfeld")
    constant = RandomForestRegressor(4, random_state=0).fit(X, np.full(len(X), 7.25))  # one leaf each
    got, expected = _both(_export(constant, X, tmp_path), X)
    assert np.array_equal(got, expected) and np.all(got == np.float32(7.25))


def test_the_trees_refuse_an_input_narrower_than_their_splits(tmp_path: Path) -> None:
    X, y = _table("diabetes")
    forest = RandomForestRegressor(5, max_depth=4, random_state=0).fit(X, y)
    graph = compile_graph(_export(forest, X, tmp_path))
    with pytest.raises(ValueError, match="the trees read"):
        graph.trees.predict(X[:, :1])


@pytest.fixture
def fresh_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty kernel cache and no kernel loaded in this process (restored afterwards)."""
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(tmp_path / "cache"))
    native.forget_loaded()
    yield tmp_path / "cache"
    native.forget_loaded()


def _forest_file(folder: Path) -> tuple[Path, np.ndarray]:
    X, y = _table("diabetes")
    forest = RandomForestRegressor(5, max_depth=4, random_state=0).fit(X, y)
    return _export(forest, X, folder), X


def test_the_kernel_is_built_once_into_the_cache(fresh_kernel: Path, tmp_path: Path) -> None:
    path, _ = _forest_file(tmp_path)
    compile_graph(path)
    built = list(fresh_kernel.glob("tree_kernel-*.so"))
    assert len(built) == 1 and not list(fresh_kernel.glob("*.tmp"))
    stamp = built[0].stat().st_mtime_ns
    native.forget_loaded()
    compile_graph(path)
    assert built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_without_a_compiler_the_graph_stays_whole(
    fresh_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _forest_file(tmp_path)
    monkeypatch.setenv("CC", "no-such-compiler-here")
    with pytest.raises(GraphNotCompiled, match=r"no C compiler \('no-such-compiler-here' is not on PATH"):
        compile_graph(path)


def test_a_failing_compiler_leaves_no_half_written_library(
    fresh_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _forest_file(tmp_path)
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\nfor a; do case $a in --version) echo broken 1; exit 0;; esac; done\n"
                      "echo 'error: out of disk' >&2; exit 1\n")  # fmt: skip
    broken.chmod(broken.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CC", str(broken))
    with pytest.raises(
        GraphNotCompiled, match=r"the C compiler failed on _tree_kernel\.c: error: out of disk"
    ):
        compile_graph(path)
    assert not fresh_kernel.exists() or not list(fresh_kernel.iterdir())


@pytest.fixture
def unwritable_cache(fresh_kernel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder that cannot be made (even as root), and a temporary folder of the test's
    own (returned)."""
    import tempfile

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(blocker / "cache"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path / "tmp"


def test_an_unwritable_cache_builds_in_a_private_temporary_folder(
    unwritable_cache: Path, tmp_path: Path
) -> None:
    path, X = _forest_file(tmp_path)
    graph = compile_graph(path)
    folder = Path(tree_kernel.load_kernel()._name).parent
    assert folder.parent == unwritable_cache and folder.stat().st_mode & 0o777 == 0o700
    name = session(path).get_inputs()[0].name
    assert graph.run(None, {name: X})[0].shape == (len(X), 1)


def test_a_temporary_folder_others_may_write_to_is_not_trusted(
    unwritable_cache: Path, tmp_path: Path
) -> None:
    import os

    path, _ = _forest_file(tmp_path)
    shared = unwritable_cache / f"modelmill-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)  # anybody could have put a library there
    with pytest.raises(GraphNotCompiled, match="nor to a private temporary folder"):
        compile_graph(path)
    assert list(shared.iterdir()) == []


def test_the_switch_keeps_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _forest_file(tmp_path)
    monkeypatch.setenv("MODELMILL_TREE_KERNEL", "off")
    with pytest.raises(GraphNotCompiled, match="MODELMILL_TREE_KERNEL=off"):
        compile_graph(path)


def test_a_modelmill_pipeline_with_a_log_target_is_compiled_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encoding in onnxruntime, trees in the kernel, exp(y) - 1 in onnxruntime again."""
    from modelmill.registry.onnx_export import export_onnx
    from modelmill.registry.predictor import load_predictor
    from tests.unit.test_onnx import awkward, fitted

    pipeline, held_out = fitted("random_forest", "log1p")
    assert export_onnx(pipeline, held_out, tmp_path)["status"] == "ok"
    frame = pd.concat([held_out, awkward(held_out)], ignore_index=True)
    compiled = load_predictor(tmp_path)
    assert compiled.trees == "compiled (full-depth walk)"
    monkeypatch.setenv("MODELMILL_TREE_KERNEL", "off")
    whole = load_predictor(tmp_path)
    assert whole.trees.startswith("onnxruntime (MODELMILL_TREE_KERNEL=off")
    np.testing.assert_allclose(compiled.predict(frame), whole.predict(frame), rtol=5e-6)
    np.testing.assert_allclose(compiled.predict(frame), pipeline.predict(frame), rtol=1e-4)
    records = frame.head(5).to_dict("records")
    np.testing.assert_allclose(compiled.predict_records(records), whole.predict_records(records), rtol=5e-6)


def test_a_graph_is_cut_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelmill.registry import compiled_graph, graph_cache

    path, X = _forest_file(tmp_path)
    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(tmp_path / "cache"))
    first = compile_graph(path).run(None, {"X": X})[0]
    cuts: list[int] = []
    real = compiled_graph.split_graph
    monkeypatch.setattr(compiled_graph, "split_graph", lambda blob: cuts.append(1) or real(blob))
    assert np.array_equal(compile_graph(path).run(None, {"X": X})[0], first) and cuts == []
    [entry] = (tmp_path / "cache" / "graphs").iterdir()
    (entry / "trees.bin").write_bytes((entry / "trees.bin").read_bytes()[:-100])  # damaged
    assert np.array_equal(compile_graph(path).run(None, {"X": X})[0], first) and cuts == [1]
    assert np.array_equal(compile_graph(path).run(None, {"X": X})[0], first) and cuts == [1]  # mended
    assert graph_cache._read(entry) is not None


def test_leaf_masks_come_back_from_the_cache_as_they_were_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelmill.registry import graph_cache

    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(tmp_path / "cache"))
    path = _caterpillar(tmp_path, 63)
    cut = compile_graph(path).trees
    [entry] = (tmp_path / "cache" / "graphs").iterdir()
    read = graph_cache._read(entry).trees
    assert cut.evaluator == "leaf masks"
    for name in graph_cache._ARRAYS:
        assert read[name].dtype == getattr(cut, name).dtype and np.array_equal(read[name], getattr(cut, name))
        assert read[name].flags.writeable


def test_a_refusal_is_remembered_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelmill.registry import compiled_graph

    monkeypatch.setenv("MODELMILL_CACHE_DIR", str(tmp_path / "cache"))
    X, y = _table("diabetes")
    path = _export(RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y), X, tmp_path)
    reason = "the graph's tree nodes are TreeEnsembleClassifier (one TreeEnsembleRegressor is compiled)"
    monkeypatch.setattr(compiled_graph, "split_graph", lambda blob: (_ for _ in ()).throw(
        GraphNotCompiled(reason)))  # fmt: skip
    for _ in range(2):
        with pytest.raises(GraphNotCompiled, match=re.escape(reason)):
            compile_graph(path)
    monkeypatch.setattr(compiled_graph, "split_graph", lambda blob: pytest.fail("cut again"))
    with pytest.raises(GraphNotCompiled, match=re.escape(reason)):
        compile_graph(path)


def _hand_made(folder: Path, tracks_true: list[int]) -> Path:
    """One tree: x0 <= 0.5 ? (x1 <= 2.5 ? 1.0 : 2.0) : 3.0, missing values routed by ``tracks_true``."""
    from onnx import helper

    node = helper.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1,
        nodes_treeids=[0] * 5, nodes_nodeids=[0, 1, 2, 3, 4], nodes_featureids=[0, 1, 0, 0, 0],
        nodes_values=[0.5, 2.5, 0.0, 0.0, 0.0],
        nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "LEAF", "LEAF", "LEAF"],
        nodes_truenodeids=[1, 2, 0, 0, 0], nodes_falsenodeids=[4, 3, 0, 0, 0],
        nodes_missing_value_tracks_true=[*tracks_true, 0, 0, 0],
        target_treeids=[0, 0, 0], target_nodeids=[2, 3, 4], target_ids=[0, 0, 0],
        target_weights=[1.0, 2.0, 3.0], base_values=[0.25],
    )  # fmt: skip
    return _one_node_file(node, 2, folder / f"hand{tracks_true}.onnx")


@pytest.mark.parametrize("tracks_true", [[0, 0], [1, 0], [0, 1], [1, 1]])
def test_each_missing_value_rule_and_the_base_value(tmp_path: Path, tracks_true: list[int]) -> None:
    nan = np.float32("nan")
    X = np.array([[0.5, 2.5], [0.6, 0], [0.4, 2.6], [nan, 1], [nan, nan], [0.1, nan], [nan, 9]], np.float32)
    got, expected = _both(_hand_made(tmp_path, tracks_true), X)
    assert np.array_equal(got, expected)
    assert got[0] == np.float32(1.25) and got[1] == np.float32(3.25) and got[2] == np.float32(2.25)


@pytest.mark.parametrize("tracks_true", [[0, 0], [1, 0], [0, 1], [1, 1]])
def test_a_walk_fills_a_missing_value_with_the_infinity_going_its_way(
    tmp_path: Path, tracks_true: list[int]
) -> None:
    """Each column's splits all send a missing value one way: it is replaced by +inf (right) or
    -inf (left, the true branch) and the walk leaves out its NaN test, with the same sums."""
    from dataclasses import replace

    from modelmill.registry.tree_masks import no_masks

    nan = np.float32("nan")
    X = np.array([[0.5, 2.5], [0.6, 0], [nan, 1], [nan, nan], [0.1, nan], [nan, 9], [0.4, 2.6]], np.float32)
    path = _hand_made(tmp_path, tracks_true)
    walked = replace(compile_graph(path).trees, **no_masks())
    assert walked.evaluator == "full-depth walk"
    filled, finite = walked._filled(X)
    assert finite and not np.isnan(filled).any() and np.isnan(X).sum() == 5  # the caller's X kept
    assert list(filled[3]) == [-np.inf if t else np.inf for t in tracks_true]
    tested = np.zeros(len(X))
    walked._sum(X, tested, finite=False)  # the walk that tests for NaN, on the unfilled rows
    got = walked.predict(X)
    assert np.array_equal(got, tested * walked.scale + walked.base)
    assert np.array_equal(got.astype(np.float32), session(path).run(None, {"X": X})[0].ravel())


def test_a_column_whose_splits_disagree_keeps_the_nan_test(tmp_path: Path) -> None:
    from dataclasses import replace

    from modelmill.registry.tree_masks import no_masks

    X = np.r_[np.linspace(-2, 66, 400), np.nan, 2.2, np.nan].astype(np.float32).reshape(-1, 1)
    path = _caterpillar(tmp_path, 63)  # x0's missing values go right at two splits, left at one
    walked = replace(compile_graph(path).trees, **no_masks())
    same, finite = walked._filled(X)
    assert same is X and not finite
    got = walked.predict(X)
    assert got[-3] == 3.0
    assert np.array_equal(got.astype(np.float32), session(path).run(None, {"X": X})[0].ravel())
    assert np.array_equal(walked.predict(np.nan_to_num(X))[:400], got[:400])


def test_no_fill_when_a_right_going_threshold_is_not_below_infinity() -> None:
    nodes = np.zeros(3, dtype=tree_kernel.NODE_DTYPE)
    nodes["left"] = [1, 1, 2]  # a split on column 1, then two leaves pointing at themselves
    nodes["feature"] = np.array([1 | 1 << 31, 0, 0], np.int64).astype(np.uint32).view(np.int32)
    nodes["threshold"] = [0.5, np.inf, np.inf]
    assert list(tree_kernel.missing_fill(nodes, 2)) == [-np.inf, np.inf]
    for threshold in (np.inf, np.nan):  # x > threshold is never true: +inf would go left
        nodes["threshold"][0] = threshold
        assert tree_kernel.missing_fill(nodes, 2) is None


def test_double_thresholds_are_rounded_down_to_the_same_decisions() -> None:
    from modelmill.registry.tree_layout import _thresholds

    rng = np.random.default_rng(0)
    wide = rng.normal(size=2000) * 10.0 ** rng.integers(-3, 4, size=2000)
    narrow = _thresholds({"nodes_values_as_tensor": wide})
    assert narrow.dtype == np.float32
    # the float32 values either side of each threshold fall on the same side of both
    for x in (narrow, np.nextafter(narrow, np.float32(np.inf)), np.nextafter(narrow, np.float32(-np.inf))):
        assert np.array_equal(x.astype(np.float64) <= wide, x <= narrow)


def test_a_part_that_fails_hands_over_to_the_whole_graph(tmp_path: Path) -> None:
    path, X = _forest_file(tmp_path)
    graph = compile_graph(path)
    expected = session(path).run(None, {"X": X})[0]

    class Broken:
        def get_outputs(self) -> list[object]:
            raise RuntimeError("a type the cut got wrong")

    graph.before = Broken()
    np.testing.assert_array_equal(graph.run(None, {"X": X})[0], expected)
    np.testing.assert_array_equal(graph.run(None, {"X": X})[0], expected)  # and stays with it


def test_the_first_part_hands_over_only_the_columns_the_splits_read(tmp_path: Path) -> None:
    """Unread columns (most TF-IDF terms of a wide input) stay inside onnxruntime: the first
    part gathers the columns the splits read, and the kernel reads exactly those."""
    X, y = _table("diabetes")
    stump = GradientBoostingRegressor(n_estimators=3, max_depth=1, random_state=0).fit(X, y)
    read = np.unique([f for tree in stump.estimators_[:, 0] for f in tree.tree_.feature if f >= 0])
    path = _export(stump, X, tmp_path)
    graph = compile_graph(path)
    name = graph.before.get_inputs()[0].name
    handed = graph.before.run([graph.trees_in], {name: X[:50]})[0]
    assert handed.shape == (50, len(read)) and len(read) < X.shape[1]
    assert np.array_equal(handed, X[:50][:, read].astype(np.float32))
    expected, got = _both(path, X)
    assert np.array_equal(got, expected)
