"""``modelmill eda``: profile a stored table as one self-contained HTML page (an ``eda_report``).

The report is stored as the artifact ``eda_report.html`` (type ``eda_report``) whose lineage
input is the profiled version, so the UI and ``modelmill lineage`` link the two. The page is
deterministic: profiling an unchanged table returns the existing report version.

With tracking on (the default, like ``main.tracking=mlflow``) the page is also logged to
MLflow as ``eda/eda_report.html`` of a run named ``eda`` in ``main.experiment_name``
(tracking URI: ``--tracking-uri``, else ``main.tracking_uri``, else the workspace's SQLite file).

The project's dataset spec says which column is the target (its distribution gets a section,
its declared range a warning) and which columns are coordinates (a box of two columns in
``cleaning.boxes``: a map).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, open_ws, print_json
from modelmill.cli._project import ConfigDirOption, project, workspace_of
from modelmill.core.errors import ArtifactNotFoundError, ConfigError, UsageError

REPORT_NAME = "eda_report.html"
REPORT_TYPE = "eda_report"
DEFAULT_ARTIFACT = "sample.csv:latest"


def _read(path: Path, name: str) -> Any:
    """The stored table as a DataFrame (Parquet by the artifact's name, CSV otherwise)."""
    import pandas as pd

    if path.is_dir():
        raise UsageError(f"{name} is a directory; eda profiles a CSV or Parquet table")
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{name} could not be read as a table: {exc}") from None


def _resolve(store: Any, ref: str) -> Any:
    try:
        return store.resolve(ref)
    except ArtifactNotFoundError as exc:
        raise ArtifactNotFoundError(
            f"{str(exc).rstrip('.')}. Run `modelmill run` to produce sample.csv, or pick a table from "
            "`modelmill artifacts list`."
        ) from None


def _store(store: Any, report: Any, source: str, metadata: dict[str, Any]) -> Any:
    """The page as the next ``eda_report.html`` version, its lineage input the profiled table."""
    with tempfile.TemporaryDirectory(prefix="modelmill-eda-") as tmp:
        page = report.save(Path(tmp) / REPORT_NAME)
        return store.put(page, REPORT_NAME, REPORT_TYPE, description=f"EDA profile of {source}",
                         metadata=metadata, inputs=[source])  # fmt: skip


def _spec_hints(spec: Any) -> dict[str, Any]:
    """``profile`` keywords from the dataset spec: the target, its declared range, the map's axes."""
    if spec is None:
        return {}
    hints: dict[str, Any] = {"target": spec.target}
    bounds = spec.columns[spec.target].range
    if bounds is not None and all(b is None or isinstance(b, int | float) for b in bounds):
        hints["target_range"] = bounds
    for box in spec.cleaning.boxes.values():
        if len(box.columns) == 2:
            x, y = sorted(box.columns, key=lambda c: not c.lower().startswith(("lon", "lng", "x")))
            hints["coordinates"] = (x, y)
            break
    return hints


def _log_mlflow(
    defaults: Any,
    ws: Any,
    tracking_uri: str | None,
    html: str,
    source: str,
    stored: str,
    meta: dict[str, Any],
) -> str:
    """Log the page to a new MLflow run in the project's experiment; its id."""
    from modelmill.tracking.groups import GroupRun

    uri = tracking_uri or defaults.tracking_uri or ws.default_tracking_uri
    group = GroupRun(uri, defaults.experiment_name, ws.mlflow_artifact_root)
    try:
        tags = {"modelmill.kind": "eda", "modelmill.artifact": stored, "modelmill.source": source}
        run_id = group.start("eda", {"source": source, "artifact": stored}, tags)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (modelmill eda: pass --no-tracking to skip MLflow)") from None
    metrics = {k: float(meta[k]) for k in ("rows", "columns", "n_warnings")}
    group.finish(True, metrics, {}, {"eda/eda_report.html": html})
    return run_id


@handle_errors
def eda_command(
    artifact: str = typer.Argument(DEFAULT_ARTIFACT, help="NAME[:vN|:ALIAS] of a CSV or Parquet table."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the HTML page to this file."),
    missing_threshold: float = typer.Option(
        0.2, "--missing-threshold", help="Warn above this missing share."
    ),
    tracking: bool = typer.Option(True, "--tracking/--no-tracking", help="Log the page to MLflow."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: config)."),
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Profile a stored table (the target, types, missing values, distributions, correlations, warnings)."""
    from modelmill.reports import profile

    defaults = project(config_dir)
    ws = open_ws(workspace_of(workspace, defaults))
    store = ws.store
    version = _resolve(store, artifact)
    frame = _read(store.path(version), version.name)
    report = profile(frame, title=f"EDA: {version.ref}", missing_threshold=missing_threshold,
                     **_spec_hints(defaults.spec))  # fmt: skip
    metadata = {"source": version.ref, "rows": int(frame.shape[0]), "columns": int(frame.shape[1]),
                "n_warnings": len(report.warnings), "warnings": list(report.warnings)}  # fmt: skip
    stored = _store(store, report, version.ref, metadata)
    path = store.path(stored)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, output)
    run_id = (
        _log_mlflow(defaults, ws, tracking_uri, report.html, version.ref, stored.ref, metadata)
        if tracking
        else None
    )
    if as_json:
        print_json({"artifact": stored.ref, "source": version.ref, "path": str(output or path),
                    "stored_path": str(path), "mlflow_run_id": run_id,
                    "warnings": list(report.warnings)})  # fmt: skip
        return
    typer.echo(f"stored {stored.ref} (profile of {version.ref}, {len(report.warnings)} warnings)")
    if run_id:
        typer.echo(f"logged to MLflow run {run_id}")
    typer.echo(f"open {output or path}")
    for line in report.warnings:
        typer.echo(f"  warning: {line}")
