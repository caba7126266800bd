"""``modelmill test``: score a stored model (default: prod) on the test split with the task's metrics.

Nothing here names a table: the model is the project's ``main.model_artifact`` (``NAME:prod``),
the test split is the latest output of type ``test_data`` of the pipeline's ``split`` step, and
the target and the metrics come from the dataset spec (its ``target`` and ``task``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, fail, handle_errors, open_ws, print_json
from modelmill.cli._project import ConfigDirOption
from modelmill.core.errors import ArtifactNotFoundError
from modelmill.core.names import parse_ref


def _defaults(model: str | None, data: str | None, target: str | None,
              config_dir: Path | None) -> tuple[str, str, str, str, Path]:  # fmt: skip
    """``(model, data, target, task, workspace)``: the options given, the rest from the project's
    config."""
    from modelmill import config as config_mod
    from modelmill.datasets.spec import spec_from_config

    cfg = config_mod.compose([], config_dir=config_dir)
    spec = spec_from_config(cfg)
    if data is None:
        from modelmill.api import holdout_output, load_pipeline

        data = f"{holdout_output(load_pipeline(cfg), 'modelmill test')[1]}:latest"
    workspace = Path(str(cfg.main.workspace))
    return model or f"{cfg.main.model_artifact}:prod", data, target or spec.target, spec.task, workspace


def _print(result: dict[str, Any]) -> None:
    typer.echo(f"{result['model']} on {result['data']} ({result['n']} rows)")
    width = max((len(name) for name in result["metrics"]), default=0)
    for name, value in result["metrics"].items():
        typer.echo(f"{name.upper():<{width}} {value:.4f}")


@handle_errors
def test_command(
    model: str = typer.Option(
        None,
        "--model",
        help="Model: NAME[:vN|:ALIAS] in the store, models:/NAME@ALIAS (or /N), or a model directory "
        "(default: MODEL:prod, MODEL being main.model_artifact).",
    ),
    data: str = typer.Option(
        None, "--data", help="Test split: NAME[:vN|:ALIAS] (default: the split step's test output, latest)."
    ),
    target: str = typer.Option(None, "--target", help="Target column (default: the dataset spec's)."),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="Registry URI for models:/ references (default: the workspace's)."
    ),
    config_dir: Path = ConfigDirOption,
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate the prod model (or --model) on the latest test split with the task's metrics."""
    from modelmill.registry.references import ModelResolver
    from modelmill.tasks import get_task

    model, data, target, task, configured = _defaults(model, data, target, config_dir)
    ws = open_ws(workspace if workspace is not None else configured)
    resolver = ModelResolver(ws, tracking_uri)
    try:
        resolved = resolver.resolve(model)
    except ArtifactNotFoundError as exc:
        if parse_ref(model).alias is None:
            raise
        raise fail(f"no model at '{model}': {exc}. Promote one first (modelmill run, or "
                   "modelmill promote NAME:vN).", 1) from None  # fmt: skip
    data_version = ws.store.resolve(data)

    from modelmill.datasets.io import read_stored_table
    from modelmill.registry.checks import load_checked

    frame = read_stored_table(ws.store.path(data_version))
    if target not in frame.columns:
        raise fail(f"{data_version.ref} has no target column '{target}' (set --target)", 2)
    y_true = frame.pop(target)
    with resolver.fetch(resolved) as path:  # verified; a registry download is removed after loading
        checked = load_checked(path, label=resolved.label, runtime="sklearn")
    kind = get_task(task)
    values, proba = kind.predict(checked.sklearn, frame)
    metrics = kind.score(y_true, values, proba, checked.sklearn.classes or ())
    result = {
        "model": resolved.label,
        "data": data_version.ref,
        "n": len(frame),
        **metrics,
        "metrics": metrics,
    }
    if as_json:
        print_json(result)
        return
    _print(result)
