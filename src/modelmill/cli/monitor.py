"""``modelmill monitor``: compare a batch (or the service's request log) with a model's reference.

The model, the target and id columns of ``--actuals``, the metrics and the thresholds come from
the project's config (:mod:`modelmill.projects.defaults`) unless a flag says otherwise.

Exit codes: 0 (no drift, or drift without ``--fail-on-drift``), 1 (drift with
``--fail-on-drift``), 2 (unreadable input, missing columns, a model without a reference).
Thresholds: ``monitoring.*`` in the config, overridden by ``--psi-warn``/``--psi-drift``/``--alpha``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, open_ws, print_json
from modelmill.cli._project import ConfigDirOption, project, workspace_of

SHOWN_PERIODS = 12
STYLE = {"ok": "green", "warn": "yellow", "drift": "bold red"}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _print_table(result: object) -> None:
    from rich.console import Console
    from rich.table import Table

    drift = result.drift  # type: ignore[attr-defined]
    table = Table(title=f"drift of {result.source} against {result.model.label}")  # type: ignore[attr-defined]
    for column in ("feature", "test", "statistic", "p-value", "PSI", "unseen", "missing Δ", "verdict"):
        table.add_column(column)
    for f in drift.features:
        table.add_row(
            f.feature, f.test or "—", _fmt(f.statistic), _fmt(f.p_value), _fmt(f.psi),
            f"{f.unseen_share:.1%}" if f.kind == "categorical" else "—", f"{f.missing_delta:+.1%}",
            f"[{STYLE[f.verdict]}]{f.verdict}[/]",
        )  # fmt: skip
    console = Console(width=140)
    console.print(table)
    for f in drift.features:
        if f.reasons:
            console.print(f"  {f.feature}: {'; '.join(f.reasons)}", highlight=False)
    quality = result.quality  # type: ignore[attr-defined]
    if quality is not None:
        name = quality.metric.upper() if len(quality.metric) <= 5 else quality.metric
        base = "unknown" if quality.baseline is None else f"{quality.baseline:.4g}"
        others = ", ".join(f"{k} {v:.4g}" for k, v in quality.metrics.items() if k != quality.metric)
        console.print(
            f"{name} {quality.value:.4g} on {quality.n_matched} rows with actuals (baseline {base}: "
            f"{quality.baseline_source}){'; ' + others if others else ''}",
            highlight=False,
        )
        if len(quality.periods) > SHOWN_PERIODS:
            console.print(f"  (last {SHOWN_PERIODS} of {len(quality.periods)} weeks; all in --json/--output)")
        for period in quality.periods[-SHOWN_PERIODS:]:
            value = period.get(quality.metric)
            shown = "—" if value is None else f"{value:.4g}"
            console.print(f"  week {period['week']}: {name} {shown} ({period['n']} rows)", highlight=False)
    console.print(
        f"overall: [{STYLE[drift.verdict]}]{drift.verdict}[/] ({drift.n_rows} rows)", highlight=False
    )


@handle_errors
def monitor_command(
    source: str = typer.Argument(..., metavar="INPUT", help="CSV/Parquet file, Parquet directory or URL."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="models:/NAME@ALIAS, NAME[:vN] or a dir "
        "(default: the project's models:/<main.model_name>@prod).",
    ),
    actuals: str = typer.Option(
        None,
        "--actuals",
        help="CSV of the true target per row (the spec's id column, or 'row', and the target column or "
        "'actual'): report the task's metrics.",
    ),
    time_col: str = typer.Option(None, "--time-col", help="Column for weekly metrics (default: timestamp)."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when the verdict is drift."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the HTML report to this file."),
    psi_warn: float = typer.Option(None, "--psi-warn", help="Override monitoring.psi_warn."),
    psi_drift: float = typer.Option(None, "--psi-drift", help="Override monitoring.psi_drift."),
    alpha: float = typer.Option(None, "--alpha", help="Override monitoring.alpha."),
    tracking: bool = typer.Option(True, "--tracking/--no-tracking", help="Log the report to MLflow."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: config)."),
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Drift of INPUT against the model's training reference (and the task's metrics with --actuals)."""
    from modelmill.monitor.check import log_mlflow, run_monitor, thresholds, truth_of

    defaults = project(config_dir)
    ws = open_ws(workspace_of(workspace, defaults))
    limits = thresholds(
        {"psi_warn": psi_warn, "psi_drift": psi_drift, "alpha": alpha}, defaults.section("monitoring")
    )
    tracking_uri = tracking_uri or defaults.tracking_uri
    result = run_monitor(
        source, model or defaults.model_uri, ws, limits, actuals=actuals, time_col=time_col,
        tracking_uri=tracking_uri, truth=truth_of(defaults),
    )  # fmt: skip
    if output is not None:
        result.page.save(output)
    run_id = log_mlflow(result, ws, tracking_uri, defaults.experiment_name) if tracking else None
    if as_json:
        print_json(result.to_dict() | {"report": str(output) if output else None, "mlflow_run_id": run_id})
    else:
        _print_table(result)
        if output is not None:
            typer.echo(f"report: {output}")
        if run_id:
            typer.echo(f"logged to MLflow run {run_id}")
    if fail_on_drift and result.drift.verdict == "drift":
        raise typer.Exit(1)
