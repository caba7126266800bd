"""The run cache: what changes a step's key, why a step re-ran, resume after failure.

All runs use the example pipeline (make_numbers -> double -> total, double -> report)
with a NullTracker and a PlainReporter writing to a StringIO. Every real execution of
a step appends its name to a counter file, so "cached" is checked against what ran.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.example_pipeline as example_pkg
from modelmill import Workspace
from modelmill.core.errors import PipelineDefinitionError
from modelmill.core.types import RunSummary, StepResult
from modelmill.runner import (
    Executor,
    Pipeline,
    PlainReporter,
    RichReporter,
    Step,
    explain_change,
    make_key,
    step,
)
from modelmill.runner import executor as executor_module
from modelmill.runner import fingerprint as fingerprint_module
from modelmill.runner.fingerprint import FingerprintMemo, code_fingerprint
from modelmill.store.store import ArtifactStore
from tests.example_pipeline.helpers import COUNTER_ENV
from tests.example_pipeline.pipeline import STEP_NAMES, STEPS, build

ALL = list(STEP_NAMES)


# ------------------------------------------------------------------ helpers
class Counter:
    """Reads the file the example steps append their name to when they really run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mark = 0

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def new(self) -> list[str]:
        """Steps executed since the previous call."""
        lines = self.lines()
        fresh, self._mark = lines[self._mark :], len(lines)
        return fresh


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Counter:
    path = tmp_path / "executions.txt"
    monkeypatch.setenv(COUNTER_ENV, str(path))
    return Counter(path)


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def executor(workspace: Workspace, out: io.StringIO) -> Executor:
    return Executor(workspace, reporter=PlainReporter(out))


def results(summary: RunSummary) -> dict[str, StepResult]:
    return {r.name: r for r in summary.steps}


def statuses(summary: RunSummary) -> dict[str, str]:
    return {r.name: r.status for r in summary.steps}


def reasons(summary: RunSummary) -> dict[str, str]:
    return {r.name: r.reason for r in summary.steps}


def blob_of(workspace: Workspace, ref: str) -> Path:
    """The content-addressed file (or directory) holding ``ref`` under workspace/blobs."""
    digest = workspace.store.resolve(ref).digest
    path = workspace.root / "blobs" / "sha256" / digest[:2] / digest
    assert path.exists(), path
    return path


def corrupt_file(path: Path) -> None:
    """Flip the first byte of a read-only blob file."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def delete_blob(path: Path) -> None:
    if path.is_dir():
        for dirpath, _dirs, files in os.walk(path):
            for name in files:
                os.chmod(Path(dirpath) / name, 0o644)
        shutil.rmtree(path)
    else:
        path.unlink()


def refs(store: ArtifactStore, name: str) -> list[str]:
    return [v.ref for v in store.versions(name)]


def latest(store: ArtifactStore, name: str) -> str:
    return store.resolve(f"{name}:latest").ref


# ------------------------------------------------------------------ make_key / explain_change
BASE: dict[str, Any] = {
    "code": {"pkg.steps": "c1", "pkg.helpers": "h1"},
    "params": {"n": 5, "model": {"alpha": 0.1}},
    "inputs": {"numbers.json": "d1"},
    "libraries": {"python": "3.11.0", "numpy": "2.0.0"},
}


def _key(**changes: Any) -> Any:
    parts = {**BASE, **changes}
    return make_key(parts["code"], parts["params"], parts["inputs"], parts["libraries"])


def test_make_key_holds_its_four_parts() -> None:
    key = _key()
    assert key.components == BASE
    assert re.fullmatch(r"[0-9a-f]{64}", key.digest)
    assert key.digest == _key().digest


def test_make_key_ignores_mapping_order_and_copies() -> None:
    params = {"b": 2, "a": 1}
    key = make_key({"m": "x"}, params, {}, {})
    assert key.digest == make_key({"m": "x"}, {"a": 1, "b": 2}, {}, {}).digest
    params["c"] = 3  # mutating the caller's mapping does not change an existing key
    assert key.components["params"] == {"b": 2, "a": 1}


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("code", {"pkg.steps": "c2", "pkg.helpers": "h1"}),
        ("code", {"pkg.steps": "c1", "pkg.helpers": "h2"}),
        ("params", {"n": 6, "model": {"alpha": 0.1}}),
        ("params", {"n": 5, "model": {"alpha": 0.2}}),
        ("params", {"n": 5, "model": {"alpha": 0.1}, "extra": 0}),
        ("inputs", {"numbers.json": "d2"}),
        ("inputs", {"numbers.json": None}),
        ("libraries", {"python": "3.11.0", "numpy": "2.1.0"}),
        ("libraries", {"python": "3.12.0", "numpy": "2.0.0"}),
    ],
)
def test_each_key_part_changes_the_key(part: str, value: dict[str, Any]) -> None:
    changed = _key(**{part: value})
    assert changed.digest != _key().digest
    assert explain_change(_key().components, changed.components)  # and the change is explained


def test_explain_change_lines() -> None:
    old = _key().components
    assert explain_change(old, old) == ""
    assert explain_change(old, _key(params={"n": 6, "model": {"alpha": 0.1}}).components) == "param n 5 -> 6"
    assert (
        explain_change(old, _key(params={"n": 5, "model": {"alpha": 0.2}}).components)
        == "param model.alpha 0.1 -> 0.2"
    )
    assert (
        explain_change(old, _key(params={"n": 5, "model": {"alpha": 0.1}, "x": "a"}).components)
        == "param x (absent) -> 'a'"
    )
    assert explain_change(old, _key(inputs={"numbers.json": "d2"}).components) == "input numbers.json changed"
    assert explain_change(old, _key(inputs={}).components) == "input numbers.json changed"
    assert (
        explain_change(old, _key(code={"pkg.steps": "c2", "pkg.helpers": "h2"}).components)
        == "code changed (pkg.helpers, pkg.steps)"
    )
    assert (
        explain_change(old, _key(libraries={"python": "3.11.0", "numpy": "2.1.0", "scipy": "1.0"}).components)
        == "library numpy 2.0.0 -> 2.1.0; library scipy None -> 1.0"
    )


def test_a_change_inside_a_table_param_is_named_where_it_is() -> None:
    """A column table (a list of named mappings) reports the one value that changed, not two tables."""
    table = [{"name": "id", "range": None}, {"name": "price", "range": [10, 350], "note": "x" * 200}]
    moved = [table[0], {**table[1], "range": [20, 350]}]
    line = explain_change(
        _key(params={"columns": table}).components, _key(params={"columns": moved}).components
    )
    assert line == "param columns[price].range [10, 350] -> [20, 350]"
    long = explain_change(_key(params={"s": "a" * 200}).components, _key(params={"s": "b"}).components)
    assert len(long) < 100 and long.endswith("-> 'b'")


def test_explain_change_orders_parts() -> None:
    new = _key(
        params={"n": 6, "model": {"alpha": 0.1}},
        inputs={"numbers.json": "d2"},
        code={"pkg.steps": "c2", "pkg.helpers": "h1"},
        libraries={"python": "3.11.0", "numpy": "2.1.0"},
    )
    assert explain_change(_key().components, new.components) == (
        "param n 5 -> 6; input numbers.json changed; code changed (pkg.steps); library numpy 2.0.0 -> 2.1.0"
    )


def test_explain_change_names_a_param_added_with_none() -> None:
    old = make_key({}, {"n": 5}, {}, {})
    new = make_key({}, {"n": 5, "seed": None}, {}, {})
    assert old.digest != new.digest
    assert explain_change(old.components, new.components) != ""


def test_explain_change_tolerates_missing_parts() -> None:
    assert explain_change({}, {"params": {"a": 1}}) == "param a (absent) -> 1"
    assert explain_change({}, {}) == ""


# ------------------------------------------------------------------ a first run and an unchanged rerun
def test_first_run_runs_and_stores_everything(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    summary = executor.run(build())
    store = workspace.store
    assert summary.status == "success"
    assert statuses(summary) == dict.fromkeys(ALL, "ran")
    assert set(reasons(summary).values()) == {"first run"}
    assert counter.new() == ALL
    assert json.loads(store.read_text("numbers.json")) == [1, 2, 3, 4, 5]
    assert json.loads(store.read_text("doubled.json")) == [2, 4, 6, 8, 10]
    assert store.read_text("total.txt") == "30\n"
    report = store.path("report")
    assert store.resolve("report").kind == "dir"
    assert sorted(p.name for p in (report / "values").iterdir()) == [f"{i:03d}.txt" for i in range(5)]
    assert json.loads((report / "index.json").read_text()) == {"items": 5, "title": "report"}
    assert summary.metrics == {"total": 30.0, "count": 5.0}
    assert store.verify() == []
    assert not (workspace.runs_dir / summary.run_id).exists()  # scratch space removed


def test_unchanged_rerun_is_fully_cached(executor: Executor, counter: Counter) -> None:
    first = executor.run(build())
    counter.new()
    second = executor.run(build())
    assert second.status == "success"
    assert statuses(second) == dict.fromkeys(ALL, "cached")
    assert set(reasons(second).values()) == {f"same key as run {first.run_id}"}
    assert counter.new() == []
    assert [r.outputs for r in second.steps] == [r.outputs for r in first.steps]
    assert [r.inputs for r in second.steps] == [r.inputs for r in first.steps]
    assert results(second)["total"].metrics == {"total": 30.0, "count": 5.0}
    assert second.metrics == first.metrics
    assert second.run_id != first.run_id


def test_cached_run_does_not_import_step_code(executor: Executor, monkeypatch: pytest.MonkeyPatch) -> None:
    executor.run(build())

    def boom(self: object) -> None:
        raise AssertionError("a cached step must not be loaded")

    monkeypatch.setattr(Step, "load", boom)
    assert statuses(executor.run(build())) == dict.fromkeys(ALL, "cached")


# ------------------------------------------------------------------ what changes the key
def test_param_change_reruns_the_step_and_its_downstream(executor: Executor, counter: Counter) -> None:
    executor.run(build({"n": 5}))
    counter.new()
    summary = executor.run(build({"n": 6}))
    assert statuses(summary) == dict.fromkeys(ALL, "ran")
    assert reasons(summary) == {
        "make_numbers": "param n 5 -> 6",
        "double": "input numbers.json changed",
        "total": "input doubled.json changed",
        "report": "input doubled.json changed",
    }
    assert counter.new() == ALL
    assert summary.metrics == {"total": 42.0, "count": 6.0}


def test_param_change_of_a_leaf_step_only_reruns_it(executor: Executor, counter: Counter) -> None:
    executor.run(build())
    counter.new()
    summary = executor.run(build({"title": "summary"}))
    assert statuses(summary) == {
        "make_numbers": "cached",
        "double": "cached",
        "total": "cached",
        "report": "ran",
    }
    assert results(summary)["report"].reason == "param title 'report' -> 'summary'"
    assert counter.new() == ["report"]


def test_input_digest_change_is_named(executor: Executor, counter: Counter) -> None:
    executor.run(build({"factor": 2}))
    counter.new()
    summary = executor.run(build({"factor": 3}))
    assert statuses(summary) == {"make_numbers": "cached", "double": "ran", "total": "ran", "report": "ran"}
    assert reasons(summary)["double"] == "param factor 2 -> 3"
    assert reasons(summary)["total"] == "input doubled.json changed"
    assert reasons(summary)["report"] == "input doubled.json changed"
    assert counter.new() == ["double", "total", "report"]


def test_library_version_change_reruns(
    workspace: Workspace, out: io.StringIO, counter: Counter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        executor_module, "library_versions", lambda extra=(): {"python": "3.11.0", "numpy": "2.0.0"}
    )
    first = Executor(workspace, reporter=PlainReporter(out))
    assert first.libraries == {"python": "3.11.0", "numpy": "2.0.0"}
    first.run(build())
    assert statuses(first.run(build())) == dict.fromkeys(ALL, "cached")
    counter.new()

    second = Executor(workspace, reporter=PlainReporter(out))
    second.libraries = {"python": "3.11.0", "numpy": "2.1.0", "scipy": "1.14.0"}
    summary = second.run(build())
    assert statuses(summary) == dict.fromkeys(ALL, "ran")
    assert reasons(summary)["make_numbers"] == "library numpy 2.0.0 -> 2.1.0; library scipy None -> 1.14.0"
    assert counter.new() == ALL


def test_real_library_versions_are_part_of_the_key(executor: Executor) -> None:
    real = executor.libraries
    assert "python" in real
    assert "numpy" in real
    executor.run(build())
    executor.libraries = {**real, "numpy": "0.0.1"}
    summary = executor.run(build(), steps=["make_numbers"])
    assert results(summary)["make_numbers"].reason == f"library numpy {real['numpy']} -> 0.0.1"


# ------------------------------------------------------------------ code fingerprint
@pytest.fixture
def code_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A copy of the example step package under a unique top-level name on sys.path."""
    root = tmp_path / "codepkgs"
    pkg = f"mm_codecopy_{uuid.uuid4().hex[:10]}"
    dest = root / pkg
    dest.mkdir(parents=True)
    source = Path(example_pkg.__file__).parent
    for name in ("__init__.py", "steps.py", "helpers.py"):
        shutil.copy(source / name, dest / name)
    (dest / "unrelated.py").write_text('"""Not imported by the steps."""\n\nVALUE = 1\n')
    monkeypatch.syspath_prepend(str(root))
    yield pkg, dest
    for mod in [m for m in sys.modules if m == pkg or m.startswith(f"{pkg}.")]:
        del sys.modules[mod]


def _edit(path: Path, extra: str) -> None:
    """Append to a source file, making sure its mtime changes (the fingerprint caches by mtime)."""
    before = path.stat().st_mtime_ns
    path.write_text(path.read_text() + extra)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_code_fingerprint_follows_project_imports(code_copy: tuple[str, Path]) -> None:
    pkg, _ = code_copy
    fp = code_fingerprint(f"{pkg}.steps")
    assert f"{pkg}.steps" in fp
    assert f"{pkg}.helpers" in fp
    assert f"{pkg}.unrelated" not in fp
    assert all(m == pkg or m.startswith(f"{pkg}.") for m in fp)  # other packages are not hashed


def test_code_fingerprint_of_a_module_without_file() -> None:
    assert code_fingerprint("no_such_module_for_modelmill_tests") == {
        "no_such_module_for_modelmill_tests": "unknown"
    }


def test_code_edits_change_the_key(executor: Executor, counter: Counter, code_copy: tuple[str, Path]) -> None:
    pkg, dest = code_copy
    pipeline = build(module=f"{pkg}.steps")
    assert statuses(executor.run(pipeline)) == dict.fromkeys(ALL, "ran")
    counter.new()

    _edit(dest / "unrelated.py", "OTHER = 2\n")
    assert statuses(executor.run(pipeline)) == dict.fromkeys(ALL, "cached")
    assert counter.new() == []

    _edit(dest / "steps.py", "\n# an edit to the step module\n")
    summary = executor.run(pipeline)
    assert statuses(summary) == dict.fromkeys(ALL, "ran")
    assert set(reasons(summary).values()) == {f"code changed ({pkg}.steps)"}
    assert counter.new() == ALL

    _edit(dest / "helpers.py", "\n# an edit to the imported helper only\n")
    summary = executor.run(pipeline)
    assert statuses(summary) == dict.fromkeys(ALL, "ran")
    assert set(reasons(summary).values()) == {f"code changed ({pkg}.helpers)"}
    assert counter.new() == ALL

    assert statuses(executor.run(pipeline)) == dict.fromkeys(ALL, "cached")


def test_syntax_error_in_step_code_fails_the_step(
    executor: Executor, workspace: Workspace, counter: Counter, code_copy: tuple[str, Path]
) -> None:
    pkg, dest = code_copy
    _edit(dest / "helpers.py", "\ndef broken(:\n")
    summary = executor.run(build(module=f"{pkg}.steps"))
    assert summary.status == "failed"
    assert statuses(summary)["make_numbers"] == "failed"
    assert "SyntaxError" in results(summary)["make_numbers"].error
    assert _pipeline_run(workspace, summary.run_id)[0] == "failed"


@pytest.fixture
def flat_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A project folder holding a flat step module (no package) and the sibling module it imports."""
    root = tmp_path / "flatproject"
    root.mkdir()
    tag = uuid.uuid4().hex[:10]
    module, helper = f"mm_flatsteps_{tag}", f"mm_flathelpers_{tag}"
    (root / f"{helper}.py").write_text("FACTOR = 3\n")
    (root / f"{module}.py").write_text(
        "import json\n"
        f"from {helper} import FACTOR\n\n"
        "from tests.example_pipeline.helpers import count_execution\n\n\n"
        "def triple(ctx):\n"
        "    count_execution(ctx.step.name)\n"
        "    ctx.output('tripled.json').write_text(json.dumps([FACTOR * 2]))\n"
    )
    monkeypatch.syspath_prepend(str(root))
    yield module, root
    for name in (module, helper):
        sys.modules.pop(name, None)


def test_code_fingerprint_of_a_flat_module_follows_its_sibling(flat_project: tuple[str, Path]) -> None:
    module, _ = flat_project
    helper = module.replace("flatsteps", "flathelpers")
    fp = code_fingerprint(module)
    assert set(fp) == {module, helper}  # json (a library) and modelmill's tests package are not project code


def test_editing_a_flat_modules_sibling_reruns_the_step(
    executor: Executor, counter: Counter, flat_project: tuple[str, Path]
) -> None:
    module, root = flat_project
    pipeline = Pipeline([step("triple", f"{module}:triple", outputs={"tripled.json": "numbers"})])
    assert statuses(executor.run(pipeline)) == {"triple": "ran"}
    assert statuses(executor.run(pipeline)) == {"triple": "cached"}
    _edit(root / f"{module.replace('flatsteps', 'flathelpers')}.py", "# an edit to the helper\n")
    summary = executor.run(pipeline)
    assert statuses(summary) == {"triple": "ran"} and "code changed" in reasons(summary)["triple"]


def test_code_fingerprints_are_remembered_until_a_file_changes(
    flat_project: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fully cached run must not parse every step module again: the memo (saved in the
    workspace) answers while each file keeps its size and mtime, and an edit is seen."""
    module, root = flat_project
    path = tmp_path / "memo.json"
    memo = FingerprintMemo(path)
    first = code_fingerprint(module, memo)
    memo.save()

    def no_parsing(name: str) -> Any:
        raise AssertionError(f"{name} was parsed again")

    with monkeypatch.context() as m:
        m.setattr(fingerprint_module, "_walk", no_parsing)
        assert code_fingerprint(module, FingerprintMemo(path)) == first
    _edit(root / f"{module.replace('flatsteps', 'flathelpers')}.py", "# an edit\n")
    again = code_fingerprint(module, FingerprintMemo(path))
    assert again != first and again[module] == first[module]  # only the helper's hash changed
    path.write_text("{not json")
    assert code_fingerprint(module, FingerprintMemo(path)) == again  # a broken memo is ignored


def test_the_step_function_name_is_part_of_the_key(executor: Executor, counter: Counter) -> None:
    """Two functions of one module share its code hash: switching mod:total to mod:total_again
    (same module, same params, same inputs) must run the other function."""

    def pipeline(function: str) -> Pipeline:
        base = build()
        renamed = step("total", f"{STEPS}:{function}", inputs=["doubled.json"],
                       outputs={"total.txt": "total"}, params=base.by_name["total"].params)  # fmt: skip
        return Pipeline([base.by_name["make_numbers"], base.by_name["double"], renamed])

    executor.run(pipeline("total"))
    counter.new()
    summary = executor.run(pipeline("total_again"))
    assert statuses(summary)["total"] == "ran" and counter.new() == ["total"]
    assert reasons(summary)["total"] == f"function {STEPS}:total -> {STEPS}:total_again"
    assert statuses(executor.run(pipeline("total_again")))["total"] == "cached"


# ------------------------------------------------------------------ missing or corrupted outputs
def test_deleted_output_forces_a_rerun(executor: Executor, workspace: Workspace, counter: Counter) -> None:
    store = workspace.store
    executor.run(build())
    counter.new()
    delete_blob(blob_of(workspace, "doubled.json:v0"))
    assert [str(p) for p in store.verify()] and store.verify()[0].actual is None

    summary = executor.run(build())
    assert statuses(summary) == {
        "make_numbers": "cached",
        "double": "ran",
        "total": "cached",
        "report": "cached",
    }
    assert "missing or corrupted" in results(summary)["double"].reason
    assert counter.new() == ["double"]
    assert results(summary)["double"].outputs == ["doubled.json:v0"]  # same content, same version
    assert refs(store, "doubled.json") == ["doubled.json:v0"]
    assert store.verify() == []
    assert json.loads(store.read_text("doubled.json")) == [2, 4, 6, 8, 10]


def test_corrupted_output_forces_a_rerun(executor: Executor, workspace: Workspace, counter: Counter) -> None:
    store = workspace.store
    executor.run(build())
    counter.new()
    corrupt_file(blob_of(workspace, "total.txt:v0"))
    problems = store.verify()
    assert [p.ref for p in problems] == ["total.txt:v0"]
    assert "hashes to" in str(problems[0])

    summary = executor.run(build())
    assert statuses(summary) == {
        "make_numbers": "cached",
        "double": "cached",
        "total": "ran",
        "report": "cached",
    }
    assert results(summary)["total"].reason == "outputs of the cached run are missing or corrupted"
    assert counter.new() == ["total"]
    assert store.verify() == []
    assert store.read_text("total.txt") == "30\n"


def test_corrupted_directory_output_forces_a_rerun(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    store = workspace.store
    executor.run(build())
    counter.new()
    corrupt_file(blob_of(workspace, "report:v0") / "values" / "002.txt")
    assert [p.ref for p in store.verify()] == ["report:v0"]

    summary = executor.run(build())
    assert statuses(summary)["report"] == "ran"
    assert "missing or corrupted" in results(summary)["report"].reason
    assert counter.new() == ["report"]
    assert store.verify() == []
    assert (store.path("report:v0") / "values" / "002.txt").read_text() == "6\n"


# ------------------------------------------------------------------ force
def test_force_true_reruns_everything(executor: Executor, workspace: Workspace, counter: Counter) -> None:
    first = executor.run(build())
    counter.new()
    summary = executor.run(build(), force=True)
    assert statuses(summary) == dict.fromkeys(ALL, "ran")
    assert set(reasons(summary).values()) == {"forced"}
    assert counter.new() == ALL
    # identical content: the store keeps one version per name
    assert [r.outputs for r in summary.steps] == [r.outputs for r in first.steps]
    assert refs(workspace.store, "numbers.json") == ["numbers.json:v0"]


def test_force_one_step_keeps_identical_downstream_cached(executor: Executor, counter: Counter) -> None:
    executor.run(build())
    counter.new()
    summary = executor.run(build(), force=["double"])
    assert statuses(summary) == {
        "make_numbers": "cached",
        "double": "ran",
        "total": "cached",
        "report": "cached",
    }
    assert results(summary)["double"].reason == "forced"
    assert counter.new() == ["double"]


def test_force_or_select_unknown_step_raises(executor: Executor, counter: Counter) -> None:
    with pytest.raises(PipelineDefinitionError, match=r"unknown step 'dubble' \(did you mean double\?\)"):
        executor.run(build(), force=["dubble"])
    with pytest.raises(PipelineDefinitionError, match=r"unknown step 'totl'"):
        executor.run(build(), steps=["totl"])
    assert counter.new() == []


# ------------------------------------------------------------------ selection
def test_selected_step_reads_its_input_from_the_store(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    store = workspace.store
    executor.run(build({"n": 5}))
    executor.run(build({"n": 6}), steps=["make_numbers"])  # numbers.json:v1 becomes latest
    assert latest(store, "numbers.json") == "numbers.json:v1"
    counter.new()

    summary = executor.run(build({"n": 6}), steps=["double"])
    assert [r.name for r in summary.steps] == ["double"]
    result = results(summary)["double"]
    assert result.status == "ran"
    assert result.reason == "input numbers.json changed"
    assert result.inputs == ["numbers.json:v1"]
    assert result.outputs == ["doubled.json:v1"]
    assert counter.new() == ["double"]
    assert store.resolve("doubled.json:v1").inputs == ("numbers.json:v1",)
    assert latest(store, "total.txt") == "total.txt:v0"  # not selected, not touched


def test_selected_step_whose_input_was_never_produced(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    summary = executor.run(build(), steps=["double", "total"])
    assert summary.status == "failed"
    assert statuses(summary) == {"double": "failed", "total": "skipped"}
    error = results(summary)["double"].error
    assert "input of step 'double'" in error
    assert "numbers.json" in error
    assert "Run step 'make_numbers' first (main.steps=make_numbers,double)." in error
    assert counter.new() == []
    assert workspace.store.names() == []


def test_selected_step_with_corrupted_stored_input_fails(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    executor.run(build())
    corrupt_file(blob_of(workspace, "numbers.json:v0"))
    counter.new()
    summary = executor.run(build({"factor": 3}), steps=["double"])
    result = results(summary)["double"]
    assert result.status == "failed"
    assert result.error.startswith("IntegrityError: artifact 'numbers.json:v0' is corrupted")
    assert counter.new() == ["double"]  # it started, then the verified read refused the input
    assert refs(workspace.store, "doubled.json") == ["doubled.json:v0"]


# ------------------------------------------------------------------ failure and resume
def _pipeline_run(workspace: Workspace, run_id: str) -> tuple[str, dict[str, Any]]:
    row = workspace.db.read(
        lambda c: c.execute(
            "SELECT status, summary FROM pipeline_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    )
    return row["status"], json.loads(row["summary"])


def test_failed_step_stops_the_run_and_stores_nothing(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    store = workspace.store
    summary = executor.run(build({"fail": "double"}))
    assert summary.status == "failed"
    assert statuses(summary) == {
        "make_numbers": "ran",
        "double": "failed",
        "total": "skipped",
        "report": "skipped",
    }
    failed = results(summary)["double"]
    assert failed.error == "RuntimeError: step double failed on purpose"
    assert failed.outputs == []
    assert failed.inputs == ["numbers.json:v0"]
    assert results(summary)["total"].reason == "an earlier step failed"
    assert counter.new() == ["make_numbers", "double"]
    assert store.versions("doubled.json") == []
    assert store.names() == ["numbers.json"]
    assert not (workspace.runs_dir / summary.run_id).exists()

    status, recorded = _pipeline_run(workspace, summary.run_id)
    assert status == "failed"
    assert recorded["steps"][1]["error"] == failed.error
    errors = workspace.db.read(
        lambda c: c.execute("SELECT status, error FROM step_executions WHERE step = 'double'").fetchall()
    )
    assert [r["status"] for r in errors] == ["failed"]
    assert "Traceback" in errors[0]["error"]
    assert "failed on purpose" in errors[0]["error"]


def test_resume_after_failure(executor: Executor, workspace: Workspace, counter: Counter) -> None:
    executor.run(build({"fail": "double"}))
    counter.new()
    summary = executor.run(build())
    assert summary.status == "success"
    assert statuses(summary) == {"make_numbers": "cached", "double": "ran", "total": "ran", "report": "ran"}
    assert counter.new() == ["double", "total", "report"]
    assert _pipeline_run(workspace, summary.run_id)[0] == "success"


def test_failure_after_success_leaves_previous_versions(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    store = workspace.store
    executor.run(build({"n": 5}))
    before = {name: refs(store, name) for name in ("numbers.json", "doubled.json", "total.txt", "report")}
    counter.new()

    failed = executor.run(build({"n": 6, "fail": "total"}))
    assert statuses(failed) == {
        "make_numbers": "ran",
        "double": "ran",
        "total": "failed",
        "report": "skipped",
    }
    assert refs(store, "total.txt") == before["total.txt"]
    assert latest(store, "total.txt") == "total.txt:v0"
    assert refs(store, "report") == before["report"]
    assert counter.new() == ["make_numbers", "double", "total"]

    resumed = executor.run(build({"n": 6}))
    assert statuses(resumed) == {
        "make_numbers": "cached",
        "double": "cached",
        "total": "ran",
        "report": "ran",
    }
    assert counter.new() == ["total", "report"]
    assert store.read_text("total.txt") == "42\n"


def test_step_that_does_not_write_a_declared_output_fails(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    pipeline = Pipeline(
        [step("make_numbers", f"{STEPS}:make_numbers", outputs={"numbers.json": "n", "extra.json": "n"})]
    )
    summary = executor.run(pipeline)
    result = results(summary)["make_numbers"]
    assert result.status == "failed"
    assert "finished without writing declared output(s) extra.json;" in result.error
    assert "numbers.json" not in result.error
    assert workspace.store.names() == []  # not even the output it did write

    summary = executor.run(
        Pipeline([step("lazy", f"{STEPS}:write_nothing", outputs={"a.txt": "t", "b.txt": "t"})])
    )
    assert results(summary)["lazy"].error == (
        "ModelmillError: step 'lazy' finished without writing declared output(s) a.txt, b.txt; "
        "write each to ctx.output(name)"
    )
    assert summary.status == "failed"


# ------------------------------------------------------------------ aliases and lineage
def test_latest_moves_back_to_a_cached_version(
    executor: Executor, workspace: Workspace, counter: Counter
) -> None:
    store = workspace.store
    executor.run(build({"n": 5}))
    executor.run(build({"n": 6}))
    assert latest(store, "numbers.json") == "numbers.json:v1"
    assert latest(store, "report") == "report:v1"
    counter.new()

    summary = executor.run(build({"n": 5}))
    assert statuses(summary) == dict.fromkeys(ALL, "cached")
    assert counter.new() == []
    for name in ("numbers.json", "doubled.json", "total.txt", "report"):
        assert latest(store, name) == f"{name}:v0"
        assert len(store.versions(name)) == 2
    assert "latest" in store.resolve("numbers.json:v0").aliases
    assert "latest" not in store.resolve("numbers.json:v1").aliases
    assert store.read_text("total.txt") == "30\n"


def test_lineage_is_recorded(executor: Executor, workspace: Workspace) -> None:
    store = workspace.store
    first = executor.run(build({"n": 5}))
    numbers = store.resolve("numbers.json:v0")
    assert numbers.inputs == ()
    assert (numbers.run_id, numbers.step, numbers.type) == (first.run_id, "make_numbers", "numbers")
    assert numbers.metadata == {"count": 5}
    doubled = store.resolve("doubled.json:v0")
    assert doubled.inputs == ("numbers.json:v0",)
    assert (doubled.run_id, doubled.step) == (first.run_id, "double")
    report = store.resolve("report:v0")
    assert report.inputs == ("doubled.json:v0",)
    assert (report.kind, report.step) == ("dir", "report")
    assert results(first)["total"].inputs == ["doubled.json:v0"]

    second = executor.run(build({"n": 6}))
    assert store.resolve("doubled.json:v1").inputs == ("numbers.json:v1",)
    assert store.resolve("total.txt:v1").inputs == ("doubled.json:v1",)
    assert store.resolve("total.txt:v1").run_id == second.run_id
    assert store.resolve("total.txt:v0").run_id == first.run_id


# ------------------------------------------------------------------ reporters
def test_plain_reporter_prints_one_line_per_step(executor: Executor, out: io.StringIO) -> None:
    executor.run(build())
    executor.run(build())
    executor.run(build({"fail": "double", "n": 7}))
    lines = out.getvalue().splitlines()
    assert lines.count("pipeline: make_numbers -> double -> total -> report") == 3
    finished = [ln for ln in lines if re.match(r"\[\w+\] (ran|cached|failed|skipped) ", ln)]
    assert len(finished) == 12
    assert [ln.split()[0] for ln in finished] == [f"[{name}]" for name in ALL] * 3
    assert re.fullmatch(r"\[make_numbers\] ran \d+\.\d\ds numbers\.json:v0 \(first run\)", finished[0])
    assert re.fullmatch(
        r"\[double\] cached \d+\.\d\ds doubled\.json:v0 \(same key as run [\w-]+\)", finished[5]
    )
    assert re.fullmatch(r"\[make_numbers\] ran \d+\.\d\ds numbers\.json:v1 \(param n 5 -> 7\)", finished[8])
    assert re.fullmatch(
        r"\[double\] failed \d+\.\d\ds RuntimeError: step double failed on purpose", finished[9]
    )
    assert finished[10].startswith("[total] skipped") and finished[10].endswith("(an earlier step failed)")
    assert lines.count("[double] running") == 2  # printed only when a step really runs


def test_rich_reporter_smoke(workspace: Workspace) -> None:
    stream = io.StringIO()
    summary = Executor(workspace, reporter=RichReporter(stream)).run(build())
    assert summary.status == "success"
    text = stream.getvalue()
    assert "modelmill run" in text
    for name in ALL:
        assert name in text
