"""``modelmill retrain INPUT``: the weekly job; one decision line, exit 0/0/1."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, fail, handle_errors, print_json
from modelmill.cli._project import ConfigDirOption


@handle_errors
def retrain_command(
    batch: str = typer.Argument(None, help="The new batch (CSV or Parquet) to ingest as sample.csv."),
    overrides: list[str] = typer.Argument(None, help="Hydra overrides, e.g. main.tracking=none."),
    workspace: Path = WorkspaceOption,
    config_dir: Path = ConfigDirOption,
    schedule: bool = typer.Option(
        False, "--schedule", help="Print a cron line and a GitHub Actions workflow that run this job."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Ingest a batch, run the pipeline and promote only through the gate.

    Prints 'promoted <ref> (...)', 'kept prod <ref> (...)' (exit 0) or 'stopped by data
    check: <reason>' (exit 1, nothing promoted); another failing step exits 3 (2: bad input).
    """
    if schedule:
        from modelmill.lifecycle.schedule import schedule_text

        typer.echo(schedule_text(), nl=False)
        return
    if batch is None:
        raise fail("missing INPUT: the new batch to retrain on (or --schedule for how to run it weekly)", 2)
    from modelmill.lifecycle.retrain import retrain
    from modelmill.runner.progress import PlainReporter, default_reporter

    reporter = PlainReporter(sys.stderr) if as_json else default_reporter(sys.stderr)
    result = retrain(batch, overrides or [], workspace=workspace, config_dir=config_dir, reporter=reporter)
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(result.line)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
