"""Registry and promotion against a real MLflow SQLite store in the test's workspace.

A small but real MLflow sklearn model (ColumnTransformer + Ridge, skops format, with a
signature) is saved once per session and stored as ``random_forest_export`` versions;
variants differ by one marker file so each gets its own digest.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from modelmill import Workspace
from modelmill.cli import app
from modelmill.core.errors import ArtifactNotFoundError, StoreError, UsageError
from modelmill.core.types import ArtifactVersion, RunSummary
from modelmill.datasets.io import write_csv
from modelmill.registry.mlflow_registry import MlflowRegistry
from modelmill.registry.promotion import promote
from modelmill.runner import Executor, Input, Pipeline, PlainReporter, step
from modelmill.store.store import ArtifactStore
from modelmill.tracking.base import NullTracker

MODEL = "random_forest_export"
NAME = "nyc_rentals"
FEATURES = ["minimum_nights", "number_of_reviews"]
runner = CliRunner()


def frame(rows: int = 40) -> pd.DataFrame:
    nights = [float(1 + i % 7) for i in range(rows)]  # price ~ 10 * nights + 2 * reviews
    reviews = [float((i * 3) % 11) for i in range(rows)]
    return pd.DataFrame({
        "name": [f"listing {i}" for i in range(rows)],
        "minimum_nights": nights,
        "number_of_reviews": reviews,
        "price": [50.0 + 10 * n + 2 * r + i % 3 for i, (n, r) in enumerate(zip(nights, reviews))],  # noqa: B905
    })  # fmt: skip


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MLflow sklearn model directory (saved once per session)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    data = frame()
    target = data.pop("price")
    pipe = make_pipeline(ColumnTransformer([("num", "passthrough", FEATURES)]), Ridge(alpha=1.0))
    pipe.fit(data, target)
    path = tmp_path_factory.mktemp("models") / "model"
    mlflow.sklearn.save_model(
        pipe,
        str(path),
        serialization_format="skops",
        skops_trusted_types=["sklearn.compose._column_transformer.ColumnTransformer"],
        signature=infer_signature(data[FEATURES], pipe.predict(data)),
        pip_requirements=["scikit-learn"],
    )
    return path


@pytest.fixture
def put_model(model_dir: Path, workspace: Workspace, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``put_model(variant)`` -> a new ``random_forest_export`` version (distinct content per variant)."""

    def put(variant: int) -> ArtifactVersion:
        copy = tmp_path / f"variant{variant}" / MODEL
        shutil.copytree(model_dir, copy)
        (copy / "modelmill_variant.txt").write_text(str(variant))
        return workspace.store.put(copy, MODEL, "model_export")

    return put


@pytest.fixture
def mlflow_env(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point MLflow's fluent API at the workspace's SQLite store (env only: no global state)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.default_tracking_uri)
    return workspace.default_tracking_uri


def put_evaluation(
    store: ArtifactStore, tmp_path: Path, cand: tuple[str, float], prod: tuple[str, float] | None
) -> None:
    doc = {
        "candidate": {"ref": cand[0], "mae": cand[1], "r2": 0.5},
        "prod": {"ref": prod[0], "mae": prod[1], "r2": 0.4} if prod else None,
        "test_data": "test_data.csv:v0",
        "n_test": 40,
    }
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(doc))
    store.put(path, "evaluation", "evaluation")


def run_register(
    ws: Workspace, min_improvement: float = 0.0, expect: str = "ran"
) -> tuple[RunSummary, dict[str, Any]]:
    pipeline = Pipeline([
        step("register", "modelmill.steps.register:run",
             inputs=[Input("evaluation", external=True), Input(MODEL, external=True)],
             outputs={"promotion": "promotion"},
             params={"model": MODEL, "model_name": NAME, "task": "regression", "metric": "mae",
                     "min_improvement": min_improvement,
                     "experiment_name": "development", "tracking_uri": None}),
    ])  # fmt: skip
    summary = Executor(ws, tracker=NullTracker(), reporter=PlainReporter(io.StringIO())).run(pipeline)
    [result] = summary.steps
    assert result.status == expect, result.error
    return summary, json.loads(ws.store.read_text("promotion"))


def prod_events(ws: Workspace) -> list[tuple[int, str]]:
    return ws.db.read(lambda c: [
        (r[0], r[1]) for r in c.execute(
            "SELECT v.version, e.note FROM alias_events e JOIN versions v ON v.id = e.version_id "
            "WHERE e.alias = 'prod' ORDER BY e.id")
    ])  # fmt: skip


def mm(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"{args} -> {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


# --------------------------------------------------------------------------- tests
def test_promote_registers_and_models_uri_loads(
    workspace: Workspace, put_model: Any, mlflow_env: str
) -> None:
    import mlflow.pyfunc

    v0 = put_model(0)
    result = promote(workspace, v0.ref, NAME, note="first")
    rv = result.registry_version
    assert result.registered and result.prod_before is None and result.registry_prod_before is None
    assert rv.version == 1 and rv.source == f"runs:/{rv.run_id}/model"
    assert (rv.artifact, rv.digest) == (v0.ref, v0.digest)
    assert workspace.store.resolve(f"{MODEL}:prod").ref == v0.ref
    [(version, note)] = prod_events(workspace)
    assert version == 0 and note.startswith("first; registry nyc_rentals v1")

    registry = MlflowRegistry.for_workspace(workspace)
    assert registry.get_alias(NAME).version == 1  # type: ignore[union-attr]
    again, created = registry.register(NAME, v0, workspace.store.path(v0))
    assert (again.version, created) == (1, False)  # idempotent
    assert registry.find_version(NAME, v0.ref, v0.digest) == again

    model = mlflow.pyfunc.load_model(f"models:/{NAME}@prod")
    features = frame(5)[FEATURES]
    expected = mlflow.pyfunc.load_model(str(workspace.store.path(v0))).predict(features)
    assert list(model.predict(features)) == pytest.approx(list(expected))

    # another process, another working directory: only MLFLOW_TRACKING_URI is needed
    script = (
        "import mlflow.pyfunc, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{NAME}@prod')\n"
        "x = pd.DataFrame({'minimum_nights': [1.0, 2.0], 'number_of_reviews': [3.0, 4.0]})\n"
        "print(len(m.predict(x)))\n"
    )
    elsewhere = workspace.root.parent / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_env},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "2"


def test_register_step_promotes_better_and_keeps_worse(
    workspace: Workspace, put_model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = workspace.store
    registry = MlflowRegistry.for_workspace(workspace)

    v0 = put_model(0)  # no prod yet: promoted
    put_evaluation(store, tmp_path, (v0.ref, 33.1), None)
    summary, doc = run_register(workspace)
    assert doc["promoted"] is True and doc["prod_before"] is None and doc["prod_after"] == v0.ref
    assert doc["registry_version"] == 1 and summary.metrics["promoted"] == 1.0

    v1 = put_model(1)  # better: promoted
    put_evaluation(store, tmp_path, (v1.ref, 31.2), (v0.ref, 33.1))
    summary, doc = run_register(workspace)
    line = f"promoted {v1.ref} to prod: test mae 31.20 < 33.10 (prod {v0.ref})"
    assert line in capsys.readouterr().err
    assert doc == {
        **doc,
        "promoted": True,
        "candidate": v1.ref,
        "prod_before": v0.ref,
        "prod_after": v1.ref,
        "metric": "mae",
        "min_improvement": 0.0,
        "registry_version": 2,
    }
    assert registry.get_alias(NAME).version == 2  # type: ignore[union-attr]
    assert store.resolve(f"{MODEL}:prod").ref == v1.ref
    assert "test mae 31.20 < 33.10" in prod_events(workspace)[-1][1]
    events = len(prod_events(workspace))

    v2 = put_model(2)  # worse: registered, but nothing moves
    put_evaluation(store, tmp_path, (v2.ref, 33.5), (v1.ref, 31.2))
    summary, doc = run_register(workspace)
    assert (
        f"kept prod {v1.ref}: candidate test mae 33.50 is not lower than 31.20 by 0.00"
        in capsys.readouterr().err
    )
    assert doc["promoted"] is False and doc["prod_before"] == doc["prod_after"] == v1.ref
    assert doc["registry_version"] == 3 and summary.metrics["promoted"] == 0.0
    assert registry.get_alias(NAME).version == 2  # type: ignore[union-attr]
    assert store.resolve(f"{MODEL}:prod").ref == v1.ref
    assert len(prod_events(workspace)) == events
    assert registry.find_version(NAME, v2.ref, v2.digest).version == 3  # type: ignore[union-attr]

    # a better candidate whose gain is below min_improvement is kept too
    v3 = put_model(3)
    put_evaluation(store, tmp_path, (v3.ref, 31.0), (v1.ref, 31.2))
    _, doc = run_register(workspace, min_improvement=0.5)
    assert doc["promoted"] is False and "by 0.50" in doc["reason"]
    assert registry.get_alias(NAME).version == 2  # type: ignore[union-attr]


def test_a_cached_register_step_leaves_prod_where_it_left_it(
    workspace: Workspace, put_model: Any, tmp_path: Path
) -> None:
    """register's move of prod is a declared effect: the unchanged second run is cached and
    moves nothing; a cached run that finds prod gone moves it back in the store and in the
    registry (through promotion.replay_prod), as a real run would have."""
    registry = MlflowRegistry.for_workspace(workspace)
    v0 = put_model(0)
    put_evaluation(workspace.store, tmp_path, (v0.ref, 33.1), None)
    run_register(workspace)
    events = prod_events(workspace)
    assert len(events) == 1  # the step's own move, recorded as its effect, not made twice

    run_register(workspace, expect="cached")
    assert prod_events(workspace) == events

    workspace.store.remove_alias(MODEL, "prod")
    registry.delete_alias(NAME, "prod")
    run_register(workspace, expect="cached")
    assert workspace.store.resolve(f"{MODEL}:prod").ref == v0.ref
    assert registry.get_alias(NAME).version == 1  # type: ignore[union-attr]
    assert "replayed by run" in prod_events(workspace)[-1][1]


def test_store_failure_moves_the_registry_alias_back(
    workspace: Workspace, put_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    v0, v1 = put_model(0), put_model(1)
    promote(workspace, v0.ref, NAME)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(ArtifactStore, "set_alias", broken)
    with pytest.raises(StoreError, match="disk full"):
        promote(workspace, v1.ref, NAME)
    registry = MlflowRegistry.for_workspace(workspace)
    assert registry.get_alias(NAME).version == 1  # type: ignore[union-attr]
    assert workspace.store.resolve(f"{MODEL}:prod").ref == v0.ref
    assert registry.find_version(NAME, v1.ref) is not None  # registered, just not prod


def test_promote_rejects_unknown_and_non_model_refs(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError):
        promote(workspace, f"{MODEL}:v7", NAME)
    (tmp_path / "x.json").write_text("{}")
    workspace.store.put(tmp_path / "x.json", "evaluation", "evaluation")
    with pytest.raises(UsageError, match="not a model_export"):
        promote(workspace, "evaluation:v0", NAME)


def test_cli_promote_and_test(workspace: Workspace, put_model: Any, tmp_path: Path) -> None:
    test_csv = tmp_path / "test_data.csv"
    write_csv(frame(20), test_csv)
    workspace.store.put(test_csv, "test_data.csv", "test_data")
    v0, v1 = put_model(0), put_model(1)

    result = mm("test", code=1)  # no prod yet
    assert "no model at 'random_forest_export:prod'" in result.stderr
    mm("promote", f"{MODEL}:v9", code=2)
    mm("promote", "test_data.csv:v0", code=2)

    out = mm("promote", v1.ref).stdout
    assert f"promoted {v1.ref} to prod (registered as {NAME} v1; prod was none)" in out
    out = mm("promote", v0.ref, "--json").stdout
    doc = json.loads(out)
    assert doc["artifact"] == v0.ref and doc["prod_before"] == v1.ref
    assert doc["registry_version"] == 2 and doc["registry_prod_before"] == 1
    assert workspace.store.resolve(f"{MODEL}:prod").ref == v0.ref
    assert MlflowRegistry.for_workspace(workspace).get_alias(NAME).version == 2  # type: ignore[union-attr]

    text = mm("test").stdout
    assert "MAE " in text and "R2 " in text and v0.ref in text
    local = json.loads(mm("test", "--json").stdout)
    assert local["model"] == v0.ref and local["n"] == 20 and local["r2"] > 0.5
    remote = json.loads(mm("test", "--model", f"models:/{NAME}@prod", "--json").stdout)
    assert remote["mae"] == pytest.approx(local["mae"])


# --------------------------------------------------------------------------- broken and damaged models
def registry_copy(registry: MlflowRegistry, version: int) -> Path:
    """The registry's own copy of ``version`` (under the workspace's ``mlartifacts``)."""
    from urllib.parse import unquote, urlparse

    run_id = registry.get_version(NAME, version).run_id
    return Path(unquote(urlparse(registry.client.get_run(run_id).info.artifact_uri).path)) / "model"


def test_a_model_that_does_not_load_is_never_registered_or_promoted(
    workspace: Workspace, put_model: Any, tmp_path: Path
) -> None:
    from modelmill.core.errors import BrokenModelError

    good = put_model(0)
    promote(workspace, good.ref, NAME)
    broken_dir = tmp_path / "broken" / MODEL
    shutil.copytree(workspace.store.path(good), broken_dir, copy_function=shutil.copyfile)
    skops = broken_dir / "model.skops"
    skops.write_bytes(skops.read_bytes()[:100])  # truncated
    broken = workspace.store.put(broken_dir, MODEL, "model_export")
    registry = MlflowRegistry.for_workspace(workspace)

    with pytest.raises(BrokenModelError, match=rf"cannot promote {broken.ref}: .*does not load \(BadZipFile"):
        promote(workspace, broken.ref, NAME)
    put_evaluation(workspace.store, tmp_path, (broken.ref, 1.0), (good.ref, 33.1))  # better on paper
    pipeline = Pipeline([
        step("register", "modelmill.steps.register:run",
             inputs=[Input("evaluation", external=True), Input(MODEL, external=True)],
             outputs={"promotion": "promotion"},
             params={"model": MODEL, "model_name": NAME, "task": "regression", "metric": "mae",
                     "min_improvement": 0.0,
                     "experiment_name": "development", "tracking_uri": None}),
    ])  # fmt: skip
    summary = Executor(workspace, tracker=NullTracker(), reporter=PlainReporter(io.StringIO())).run(pipeline)
    assert summary.steps[0].status == "failed" and "candidate refused" in str(summary.steps[0].error)
    assert registry.find_version(NAME, broken.ref) is None  # never registered
    assert registry.get_alias(NAME).version == 1  # type: ignore[union-attr]
    assert workspace.store.resolve(f"{MODEL}:prod").ref == good.ref


def test_a_damaged_registry_copy_is_refused_and_never_reused(workspace: Workspace, put_model: Any) -> None:
    from modelmill.core.errors import IntegrityError
    from modelmill.registry.references import open_model

    v0 = put_model(0)
    promote(workspace, v0.ref, NAME)
    registry = MlflowRegistry.for_workspace(workspace)
    (registry_copy(registry, 1) / "modelmill_variant.txt").write_text("0 but changed")
    damaged = rf"registry copy of models:/{NAME}/1 is corrupted.*promote {v0.ref}"
    with pytest.raises(IntegrityError, match=damaged), open_model(f"models:/{NAME}@prod", workspace):
        pass
    # the fix the message names: promote registers a fresh copy instead of reusing the damaged one
    result = promote(workspace, v0.ref, NAME)
    assert result.registered and result.registry_version.version == 2
    with open_model(f"models:/{NAME}@prod", workspace) as model:
        assert model.resolved.version == 2 and (model.path / "MLmodel").is_file()
        downloaded = model.path
    assert not downloaded.exists()  # the download lives as long as the with block


def test_a_version_without_a_digest_loads_with_a_warning(
    workspace: Workspace, put_model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from modelmill.registry.references import open_model

    promote(workspace, put_model(0).ref, NAME)
    registry = MlflowRegistry.for_workspace(workspace)
    registry.client.delete_model_version_tag(NAME, "1", "modelmill.digest")  # as if registered elsewhere
    with (
        caplog.at_level("WARNING", logger="modelmill.registry"),
        open_model(f"models:/{NAME}/1", workspace) as m,
    ):
        assert (m.path / "MLmodel").is_file()
    assert f"models:/{NAME}/1 has no modelmill.digest tag" in caplog.text
