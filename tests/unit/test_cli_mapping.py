"""CLI arguments -> API calls: every verb is a thin layer over modelmill.api / the store.

Nothing here runs a pipeline or touches a real store: ``modelmill.api.run`` and
``modelmill.api.open_workspace`` (which ``modelmill.cli._common.open_ws`` calls) are
replaced by recording fakes, so these tests pin down the argument mapping, the output
format and the exit codes only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import modelmill.api
from modelmill.cli import app
from modelmill.core.errors import (
    ArtifactNotFoundError,
    ConfigError,
    IntegrityError,
    InvalidNameError,
    ModelmillError,
    PipelineDefinitionError,
    StepFailedError,
    StoreBusyError,
    StoreError,
    UsageError,
)
from modelmill.core.types import ArtifactVersion, RunSummary, StepResult
from modelmill.runner.progress import PlainReporter

runner = CliRunner()


# --------------------------------------------------------------------------- fakes
def _summary(status: str = "success") -> RunSummary:
    steps = [
        StepResult("fit", "ran", 0.12345, outputs=["m.json:v0"], reason="first run"),
        StepResult(
            "score",
            "failed" if status == "failed" else "cached",
            0.5,
            outputs=[] if status == "failed" else ["s.json:v0"],
            error="RuntimeError: boom" if status == "failed" else "",
        ),
    ]
    return RunSummary("20260101-000000-abcdef", status, steps, {"test_mae": 1.5})  # type: ignore[arg-type]


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace modelmill.api.run; each call is recorded and returns a successful summary."""
    calls: list[dict[str, Any]] = []

    def fake_run(overrides: Any = (), **kwargs: Any) -> RunSummary:
        calls.append({"overrides": list(overrides), **kwargs})
        return _summary()

    monkeypatch.setattr(modelmill.api, "run", fake_run)
    return calls


def _version(name: str = "ref.csv", version: int = 0, **kw: Any) -> ArtifactVersion:
    return ArtifactVersion(
        name=name,
        version=version,
        type=kw.pop("type", "clean_sample"),
        digest="ab" * 32,
        size=12,
        kind="file",
        created=1_700_000_000.0,
        **kw,
    )


@dataclass
class FakeStore:
    """Records every call; returns plausible values."""

    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)

    def _rec(self, method: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((method, args, kwargs))

    def put(self, path: Any, name: str, type: str, **kwargs: Any) -> ArtifactVersion:
        self._rec("put", path, name, type, **kwargs)
        return _version(name, type=type, aliases=("latest", *kwargs.get("aliases", ())))

    def set_alias(self, ref: str, alias: str) -> ArtifactVersion:
        self._rec("set_alias", ref, alias)
        return _version(ref.partition(":")[0], 3, aliases=(alias,))

    def remove_alias(self, name: str, alias: str) -> None:
        self._rec("remove_alias", name, alias)

    def get(self, ref: str, dest: Any = None) -> Path:
        self._rec("get", ref, dest)
        return Path(dest if dest is not None else ref.partition(":")[0]).absolute()

    def resolve(self, ref: str) -> ArtifactVersion:
        self._rec("resolve", ref)
        return _version(ref.partition(":")[0], metadata={"k": 1}, aliases=("latest",))

    def versions(self, name: str | None = None) -> list[ArtifactVersion]:
        self._rec("versions", name)
        return [_version(name or "a.csv", 0), _version(name or "a.csv", 1, aliases=("latest",))]

    def verify(self) -> list[Any]:
        self._rec("verify")
        return self.problems

    def gc(self, grace: float, dry_run: bool = False) -> list[Path]:
        self._rec("gc", grace, dry_run=dry_run)
        return [Path("/ws/tmp/x.partial")]


@dataclass
class FakeWorkspace:
    store: FakeStore


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    """A fake store behind ``open_ws`` (via ``modelmill.api.open_workspace``)."""
    fake = FakeStore()
    opened: list[Any] = []

    def fake_open(path: Any = None) -> FakeWorkspace:
        opened.append(path)
        return FakeWorkspace(fake)

    monkeypatch.setattr(modelmill.api, "open_workspace", fake_open)
    fake.opened = opened  # type: ignore[attr-defined]
    return fake


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


# ------------------------------------------------------------------------- run
def test_run_passes_overrides_and_force_steps(run_calls: list[dict[str, Any]]) -> None:
    result = _invoke("run", "a=1", "b=2", "--force-step", "fit", "-F", "score")
    assert result.exit_code == 0, result.output
    assert len(run_calls) == 1
    call = run_calls[0]
    assert call["overrides"] == ["a=1", "b=2"]
    assert list(call["force"]) == ["fit", "score"]
    assert call["config_dir"] is None


def test_run_without_arguments_passes_empty_overrides_and_no_force(
    run_calls: list[dict[str, Any]],
) -> None:
    result = _invoke("run")
    assert result.exit_code == 0, result.output
    assert run_calls[0]["overrides"] == []
    assert not run_calls[0]["force"]
    assert run_calls[0]["force"] is not True


def test_run_force_passes_true(run_calls: list[dict[str, Any]]) -> None:
    result = _invoke("run", "--force", "x=1")
    assert result.exit_code == 0, result.output
    assert run_calls[0]["force"] is True
    assert run_calls[0]["overrides"] == ["x=1"]


def test_run_config_dir_is_passed(run_calls: list[dict[str, Any]], tmp_path: Path) -> None:
    result = _invoke("run", "--config-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert Path(run_calls[0]["config_dir"]) == tmp_path


def test_run_human_summary(run_calls: list[dict[str, Any]]) -> None:
    result = _invoke("run")
    assert result.exit_code == 0
    assert "run 20260101-000000-abcdef: success (1 ran, 1 cached, 0 failed)" in result.stdout
    assert "test_mae = 1.5" in result.stdout


def test_run_json_prints_summary_document(run_calls: list[dict[str, Any]]) -> None:
    result = _invoke("run", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout holds only the JSON document
    assert {"run_id", "status", "steps", "metrics"} <= set(doc)
    assert doc["run_id"] == "20260101-000000-abcdef"
    assert doc["status"] == "success"
    assert doc["metrics"] == {"test_mae": 1.5}
    assert [s["name"] for s in doc["steps"]] == ["fit", "score"]
    for s in doc["steps"]:
        assert {"name", "status", "seconds", "outputs"} <= set(s)
    assert doc["steps"][0] == {**doc["steps"][0], "status": "ran", "seconds": 0.123, "outputs": ["m.json:v0"]}
    # progress goes to stderr as plain lines, never into the JSON on stdout
    assert isinstance(run_calls[0]["reporter"], PlainReporter)


def test_run_failed_summary_exits_1_and_names_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modelmill.api, "run", lambda overrides=(), **kw: _summary("failed"))
    result = _invoke("run", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"
    assert "error: step 'score' failed: RuntimeError: boom" in result.stderr


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UsageError("bad usage"), 2),
        (ConfigError("unknown config key 'x'"), 2),
        (InvalidNameError("bad name"), 2),
        (PipelineDefinitionError("cycle"), 2),
        (ArtifactNotFoundError("no artifact"), 2),
        (ModelmillError("generic"), 1),
        (StoreError("disk"), 1),
        (IntegrityError("corrupted"), 1),
        (StoreBusyError("locked"), 1),
        (StepFailedError("fit", "boom"), 1),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_run_maps_modelmill_errors_to_exit_codes(
    monkeypatch: pytest.MonkeyPatch, exc: ModelmillError, code: int
) -> None:
    def boom(overrides: Any = (), **kwargs: Any) -> RunSummary:
        raise exc

    monkeypatch.setattr(modelmill.api, "run", boom)
    result = _invoke("run")
    assert result.exit_code == code
    assert f"error: {exc}" in result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, ModelmillError)  # handled, not propagated


def test_unexpected_exception_is_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(overrides: Any = (), **kwargs: Any) -> RunSummary:
        raise RuntimeError("bug")

    monkeypatch.setattr(modelmill.api, "run", boom)
    result = _invoke("run")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: unexpected RuntimeError: bug (a modelmill bug: please report it with the traceback "
        "that MODELMILL_DEBUG=1 prints)"
    )
    monkeypatch.setenv("MODELMILL_DEBUG", "1")
    assert isinstance(_invoke("run").exception, RuntimeError)


# ------------------------------------------------------------------- artifacts
def test_artifacts_put_maps_every_option(store: FakeStore, tmp_path: Path) -> None:
    src = tmp_path / "ref.csv"
    src.write_text("a,b\n1,2\n")
    result = _invoke(
        "artifacts", "put", str(src), "--name", "ref.csv", "--type", "clean_sample",
        "--alias", "reference", "--metadata", '{"k":1}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [(method, args, kwargs)] = store.calls
    assert method == "put"
    assert Path(args[0]) == src
    assert args[1:] == ("ref.csv", "clean_sample")
    assert kwargs["metadata"] == {"k": 1}
    assert list(kwargs["aliases"]) == ["reference"]
    assert kwargs.get("description", "") == ""
    assert "stored ref.csv:v0" in result.stdout
    assert "reference" in result.stdout


def test_artifacts_put_short_options_repeated_alias_and_json(store: FakeStore, tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    result = _invoke(
        "artifacts", "put", str(src), "-n", "dir_art", "-t", "report", "-a", "x", "-a", "y",
        "-d", "hello", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [(_, args, kwargs)] = store.calls
    assert args[1:] == ("dir_art", "report")
    assert list(kwargs["aliases"]) == ["x", "y"]
    assert kwargs["description"] == "hello"
    assert kwargs["metadata"] == {}
    doc = json.loads(result.stdout)
    assert doc["ref"] == "dir_art:v0"
    assert doc["aliases"] == ["latest", "x", "y"]


def test_artifacts_put_without_alias_passes_empty_list(store: FakeStore, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    result = _invoke("artifacts", "put", str(src), "--name", "f.txt", "--type", "t")
    assert result.exit_code == 0, result.output
    assert list(store.calls[0][2]["aliases"]) == []


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '"text"', "3"])
def test_artifacts_put_bad_metadata_exits_2(store: FakeStore, tmp_path: Path, bad: str) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    result = _invoke("artifacts", "put", str(src), "-n", "f.txt", "-t", "t", "--metadata", bad)
    assert result.exit_code == 2
    assert "--metadata must be a JSON object" in result.stderr
    assert [c for c in store.calls if c[0] == "put"] == []


def test_artifacts_put_missing_path_exits_2(store: FakeStore, tmp_path: Path) -> None:
    result = _invoke("artifacts", "put", str(tmp_path / "nope"), "-n", "f.txt", "-t", "t")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert store.calls == []


def test_artifacts_put_requires_name_and_type(store: FakeStore, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    assert _invoke("artifacts", "put", str(src), "--type", "t").exit_code == 2
    assert _invoke("artifacts", "put", str(src), "--name", "f.txt").exit_code == 2
    assert store.calls == []


def test_artifacts_alias_sets_alias(store: FakeStore) -> None:
    result = _invoke("artifacts", "alias", "ref.csv:v3", "prod")
    assert result.exit_code == 0, result.output
    assert store.calls == [("resolve", ("ref.csv:v3",), {}), ("set_alias", ("ref.csv:v3", "prod"), {})]
    assert "ref.csv:prod -> ref.csv:v3" in result.stdout


def test_artifacts_alias_delete_removes_alias_of_name(store: FakeStore) -> None:
    result = _invoke("artifacts", "alias", "ref.csv:v3", "prod", "--delete")
    assert result.exit_code == 0, result.output
    assert store.calls == [("remove_alias", ("ref.csv", "prod"), {})]
    assert "removed ref.csv:prod" in result.stdout


def test_artifacts_alias_error_exit_code(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str, alias: str) -> None:
        raise ArtifactNotFoundError(f"'{name}' has no alias '{alias}'")

    monkeypatch.setattr(store, "remove_alias", missing)
    result = _invoke("artifacts", "alias", "ref.csv", "prod", "--delete")
    assert result.exit_code == 2
    assert "error: 'ref.csv' has no alias 'prod'" in result.stderr


def test_artifacts_get_prints_path(store: FakeStore, tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    result = _invoke("artifacts", "get", "ref.csv:v0", str(dest))
    assert result.exit_code == 0, result.output
    [(method, args, _)] = store.calls
    assert method == "get"
    assert args[0] == "ref.csv:v0"
    assert Path(args[1]) == dest
    assert result.stdout.strip() == str(dest.absolute())


def test_artifacts_get_without_dest_passes_none(store: FakeStore) -> None:
    result = _invoke("artifacts", "get", "ref.csv")
    assert result.exit_code == 0, result.output
    assert store.calls == [("get", ("ref.csv", None), {})]


def test_artifacts_get_integrity_error_exits_1(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def corrupt(ref: str, dest: Any = None) -> Path:
        raise IntegrityError(f"artifact '{ref}' is corrupted")

    monkeypatch.setattr(store, "get", corrupt)
    result = _invoke("artifacts", "get", "ref.csv:v0", "x")
    assert result.exit_code == 1
    assert "error: artifact 'ref.csv:v0' is corrupted" in result.stderr


def test_artifacts_show_and_list_json(store: FakeStore) -> None:
    result = _invoke("artifacts", "show", "ref.csv:reference", "--json")
    assert result.exit_code == 0, result.output
    assert store.calls[-1] == ("resolve", ("ref.csv:reference",), {})
    doc = json.loads(result.stdout)
    assert doc["ref"] == "ref.csv:v0"
    assert doc["metadata"] == {"k": 1}

    result = _invoke("artifacts", "list", "a.csv", "--json")
    assert result.exit_code == 0, result.output
    assert store.calls[-1] == ("versions", ("a.csv",), {})
    assert [d["ref"] for d in json.loads(result.stdout)] == ["a.csv:v0", "a.csv:v1"]

    result = _invoke("artifacts", "list")
    assert result.exit_code == 0, result.output
    assert store.calls[-1] == ("versions", (None,), {})
    assert "a.csv:v1" in result.stdout


def test_artifacts_workspace_option_reaches_open_workspace(store: FakeStore, tmp_path: Path) -> None:
    result = _invoke("artifacts", "list", "--workspace", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0, result.output
    assert Path(store.opened[-1]) == tmp_path / "elsewhere"  # type: ignore[attr-defined]


def test_artifacts_verify_exit_codes(store: FakeStore) -> None:
    result = _invoke("artifacts", "verify")
    assert result.exit_code == 0, result.output
    assert "0 problem(s)" in result.stdout

    store.problems = ["ref.csv:v0: content hashes to 000, expected abab"]
    result = _invoke("artifacts", "verify")
    assert result.exit_code == 1
    assert "CORRUPT ref.csv:v0" in result.stderr


def test_artifacts_gc_maps_options(store: FakeStore) -> None:
    result = _invoke("artifacts", "gc", "--grace", "10", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert store.calls == [("gc", (10.0,), {"dry_run": True})]
    assert json.loads(result.stdout) == {"dry_run": True, "removed": ["/ws/tmp/x.partial"]}


# --------------------------------------------------------------------- lineage
class FakeGraph:
    def to_text(self) -> str:
        return "TEXT-GRAPH"

    def to_json(self) -> str:
        return '{"nodes": [], "edges": []}'

    def to_dot(self) -> str:
        return "digraph lineage {}"


@pytest.fixture
def lineage_calls(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    import modelmill.store.lineage

    calls: list[tuple[Any, ...]] = []

    def fake_build(st: Any, ref: str, direction: str = "up") -> FakeGraph:
        calls.append((st, ref, direction))
        return FakeGraph()

    monkeypatch.setattr(modelmill.store.lineage, "build_lineage", fake_build)
    return calls


def test_lineage_format_and_direction(store: FakeStore, lineage_calls: list[tuple[Any, ...]]) -> None:
    result = _invoke("lineage", "toy_scores.json", "--format", "dot", "--direction", "down")
    assert result.exit_code == 0, result.output
    assert lineage_calls == [(store, "toy_scores.json", "down")]
    assert result.stdout.strip() == "digraph lineage {}"


def test_lineage_defaults_to_text_upstream(store: FakeStore, lineage_calls: list[tuple[Any, ...]]) -> None:
    result = _invoke("lineage", "m.json:v1")
    assert result.exit_code == 0, result.output
    assert lineage_calls == [(store, "m.json:v1", "up")]
    assert result.stdout.strip() == "TEXT-GRAPH"


def test_lineage_json_and_short_format(store: FakeStore, lineage_calls: list[tuple[Any, ...]]) -> None:
    result = _invoke("lineage", "m.json", "-f", "json", "--direction", "both")
    assert result.exit_code == 0, result.output
    assert lineage_calls[-1][2] == "both"
    assert json.loads(result.stdout) == {"nodes": [], "edges": []}


@pytest.mark.parametrize("args", [["--format", "svg"], ["--direction", "sideways"]])
def test_lineage_bad_choice_exits_2(
    store: FakeStore, lineage_calls: list[tuple[Any, ...]], args: list[str]
) -> None:
    result = _invoke("lineage", "m.json", *args)
    assert result.exit_code == 2
    assert lineage_calls == []


def test_lineage_not_found_exits_2(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import modelmill.store.lineage

    def missing(st: Any, ref: str, direction: str = "up") -> Any:
        raise ArtifactNotFoundError(f"no artifact named '{ref}' in this workspace.")

    monkeypatch.setattr(modelmill.store.lineage, "build_lineage", missing)
    result = _invoke("lineage", "nope.json")
    assert result.exit_code == 2
    assert "error: no artifact named 'nope.json'" in result.stderr


# ------------------------------------------------------------------------ help
def _all_command_paths() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = [()]

    def walk(cmd: Any, prefix: tuple[str, ...]) -> None:
        # duck-typed: typer may use its own vendored click classes
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            paths.append((*prefix, name))
            walk(sub, (*prefix, name))

    walk(root, ())
    return paths


EXPECTED_COMMANDS = {
    ("run",),
    ("lineage",),
    ("artifacts",),
    *[("artifacts", c) for c in ("list", "show", "get", "put", "alias", "verify", "gc")],
}


def test_every_expected_command_exists() -> None:
    assert set(_all_command_paths()) >= EXPECTED_COMMANDS


@pytest.mark.parametrize("path", sorted({*_all_command_paths(), *EXPECTED_COMMANDS}), ids=" ".join)
def test_help_exits_0(path: tuple[str, ...]) -> None:
    result = _invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_no_arguments_shows_help() -> None:
    result = _invoke()
    assert "Usage:" in result.output
    assert result.exit_code in (0, 2)  # click's no_args_is_help exit code differs by version
