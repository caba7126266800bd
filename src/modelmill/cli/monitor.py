"""``modelmill monitor``: compare a batch (or the service's request log) with a model's reference.

Exit codes: 0 (no drift, or drift without ``--fail-on-drift``), 1 (drift with
``--fail-on-drift``), 2 (unreadable input, missing columns, a model without a reference).
Thresholds: ``monitoring.*`` in the config, overridden by ``--psi-warn``/``--psi-drift``/``--alpha``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, open_ws, print_json

DEFAULT_MODEL = "models:/nyc_rentals@prod"
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
        base = "unknown" if quality.baseline_mae is None else f"{quality.baseline_mae:.2f}"
        console.print(
            f"MAE {quality.mae:.2f} on {quality.n_matched} rows with actuals (baseline {base}: "
            f"{quality.baseline_source})",
            highlight=False,
        )
        if len(quality.periods) > SHOWN_PERIODS:
            console.print(f"  (last {SHOWN_PERIODS} of {len(quality.periods)} weeks; all in --json/--output)")
        for period in quality.periods[-SHOWN_PERIODS:]:
            console.print(
                f"  week {period['week']}: MAE {period['mae']:.2f} ({period['n']} rows)", highlight=False
            )
    console.print(
        f"overall: [{STYLE[drift.verdict]}]{drift.verdict}[/] ({drift.n_rows} rows)", highlight=False
    )


@handle_errors
def monitor_command(
    source: str = typer.Argument(..., metavar="INPUT", help="CSV/Parquet file, Parquet directory or URL."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="models:/NAME@ALIAS, NAME[:vN] or a dir."),
    actuals: str = typer.Option(None, "--actuals", help="CSV of id + price (or actual): report MAE."),
    time_col: str = typer.Option(None, "--time-col", help="Column for weekly MAE (default: timestamp)."),
    fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when the verdict is drift."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the HTML report to this file."),
    psi_warn: float = typer.Option(None, "--psi-warn", help="Override monitoring.psi_warn."),
    psi_drift: float = typer.Option(None, "--psi-drift", help="Override monitoring.psi_drift."),
    alpha: float = typer.Option(None, "--alpha", help="Override monitoring.alpha."),
    tracking: bool = typer.Option(True, "--tracking/--no-tracking", help="Log the report to MLflow."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: config)."),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Drift of INPUT against the model's training reference (and MAE with --actuals)."""
    from modelmill.monitor.check import log_mlflow, run_monitor, thresholds

    ws = open_ws(workspace)
    limits = thresholds({"psi_warn": psi_warn, "psi_drift": psi_drift, "alpha": alpha})
    result = run_monitor(
        source, model, ws, limits, actuals=actuals, time_col=time_col, tracking_uri=tracking_uri
    )
    if output is not None:
        result.page.save(output)
    run_id = log_mlflow(result, ws, tracking_uri) if tracking else None
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
