"""``modelmill rollout start|status|promote|stop``: a challenger next to ``prod``.

A thin layer over :mod:`modelmill.lifecycle.rollout`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, print_json
from modelmill.cli._project import ConfigDirOption, project, workspace_of

app = typer.Typer(
    no_args_is_help=True,
    help="Roll a challenger out next to prod: `modelmill serve --challenger models:/NAME@challenger` "
    "serves it (canary or shadow) and rolls it back on its own; these commands move the aliases.",
)
UrlOption = typer.Option("http://127.0.0.1:8000", "--url", help="The running service (its /rollout).")
TrackingOption = typer.Option(None, "--tracking-uri", help="MLflow registry (default: the workspace's).")


def _context(
    workspace: Path | None, config_dir: Path | None, tracking_uri: str | None
) -> tuple[Any, str, str | None, str]:
    """``(ws, model_name, tracking_uri, experiment)`` of the project, flags winning."""
    from modelmill.api import open_workspace

    defaults = project(config_dir)
    ws = open_workspace(workspace_of(workspace, defaults))
    return ws, defaults.model_name, tracking_uri or defaults.tracking_uri, defaults.experiment_name


@app.command("start")
@handle_errors
def start_command(
    ref: str = typer.Argument(..., help="The stored model to roll out: NAME:vN."),
    note: str = typer.Option("", "--note", help="Why (kept in the alias history)."),
    tracking_uri: str = TrackingOption,
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Check the model loads, register it and point models:/NAME@challenger at it."""
    from modelmill.lifecycle.rollout import start

    ws, name, registry, experiment = _context(workspace, config_dir, tracking_uri)
    done = start(ws, ref, name, registry, experiment, note)
    if as_json:
        print_json(done.to_dict())
        return
    typer.echo(f"{done.model_uri} is {done.artifact} (registry v{done.registry_version.version}); "
               f"services started with --challenger {done.model_uri} pick it up")  # fmt: skip


@app.command("status")
@handle_errors
def status_command(
    url: str = UrlOption,
    actuals: str = typer.Option(
        None, "--actuals", help="CSV of true values (the id or X-Rollout-Key column and the target): "
        "each model's metric on them, from the request log."
    ),
    log_dir: Path = typer.Option(
        None, "--log-dir", help="The service's request log (default: the one /metadata names)."
    ),
    config_dir: Path = ConfigDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Champion and challenger on live traffic: requests, errors, latency, predictions, rollback."""
    from modelmill.lifecycle.rollout import live_status, quality_by_model, request_log_of
    from modelmill.monitor.check import truth_of

    status = live_status(url)
    quality = None
    if actuals is not None:
        where = log_dir or request_log_of(url)
        quality = quality_by_model(str(where), actuals, truth_of(project(config_dir)))
    if as_json:
        print_json(status | {"actuals": quality})
        return
    _print_status(status, quality)


@app.command("promote")
@handle_errors
def promote_command(
    url: str = typer.Option(
        None, "--url", help="A running service: its live figures go in the note, and its rollback refuses."
    ),
    force: bool = typer.Option(False, "--force", help="Promote even a challenger the service rolled back."),
    note: str = typer.Option("", "--note", help="Why (kept in the alias history)."),
    tracking_uri: str = TrackingOption,
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    as_json: bool = JsonOption,
) -> None:
    """Make the challenger prod (load check, registry and store, lineage note) and end the rollout."""
    from modelmill.lifecycle.rollout import live_status, promote_challenger

    ws, name, registry, experiment = _context(workspace, config_dir, tracking_uri)
    live = live_status(url) if url else None
    done = promote_challenger(ws, name, registry, experiment, live=live, force=force, note=note)
    if as_json:
        print_json(done.to_dict())
        return
    typer.echo(f"promoted {done.artifact} to prod (registry v{done.registry_version.version}; prod was "
               f"{done.prod_before or 'none'}); the challenger alias is removed")  # fmt: skip


@app.command("stop")
@handle_errors
def stop_command(
    tracking_uri: str = TrackingOption,
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    as_json: bool = JsonOption,
) -> None:
    """End the rollout without promoting: remove models:/NAME@challenger; services drop it."""
    from modelmill.lifecycle.rollout import stop

    found = stop(*_context(workspace, config_dir, tracking_uri))
    if as_json:
        print_json(found.to_dict())
        return
    typer.echo(f"rollout of {found.name} v{found.version} stopped; prod is unchanged")


def _print_status(status: dict[str, Any], quality: list[dict[str, Any]] | None) -> None:
    if status.get("mode") is None:
        typer.echo("no rollout: the service runs without --challenger")
        return
    state = "active" if status["active"] else "inactive"
    share = f" ({status['share']:.0%} of keys)" if status["mode"] == "canary" else ""
    typer.echo(f"rollout: {status['mode']}{share}, {state}; challenger {status['challenger']['uri']}")
    heads = f"{'version':>8}{'requests':>10}{'errors':>8}{'err rate':>10}{'p50 ms':>9}{'p99 ms':>9}"
    typer.echo(f"{'':11}{heads}  predictions")
    for role in ("champion", "challenger"):
        s = status[role]
        typer.echo(f"{role:11}{s.get('version') or '-':>8}{s['requests']:>10}{s['errors']:>8}"
                   f"{s['error_rate']:>10.2%}{_ms(s.get('p50_ms')):>9}{_ms(s.get('p99_ms')):>9}  "
                   f"{_predictions(s.get('predictions'))}")  # fmt: skip
    if status["agreement"].get("rows"):
        typer.echo(f"same rows (shadow): {status['agreement']}")
    if back := status.get("rolled_back"):
        typer.echo(f"rolled back: v{back['version']}: {back['reason']}")
    for row in quality or []:
        figure = f"{row['metric']} {row['value']}" if row["value"] is not None else row.get("why", "")
        typer.echo(f"on actuals: {row['role']} v{row['version']}: {figure} ({row['matched']} rows matched)")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _predictions(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    if "classes" in summary:
        return ", ".join(f"{k} {v:.0%}" for k, v in summary["classes"].items())
    return f"mean {summary['mean']}, p10-p90 {summary['p10']}-{summary['p90']}"
