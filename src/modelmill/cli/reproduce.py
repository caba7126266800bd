"""``modelmill reproduce RUN_ID``: re-fit a past run's model and compare its predictions."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, print_json


def _print(result: object) -> None:
    from modelmill.lifecycle.reproduce import Reproduction

    assert isinstance(result, Reproduction)
    verdict = "identical" if result.identical else f"max abs diff {result.max_abs_diff:.6g}"
    typer.echo(
        f"run {result.run_id}: {verdict} ({result.n_predictions} predictions of {result.original_model} "
        f"on {result.test_data}; re-ran {', '.join(result.rerun_steps)} from "
        f"{', '.join(result.pinned_inputs)})"
    )
    for name, (old, new) in result.library_changes.items():
        typer.echo(f"  library {name}: {old} -> {new}")
    if result.differing_outputs:
        typer.echo(f"  re-run data differs from the run's: {', '.join(result.differing_outputs)}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


@handle_errors
def reproduce_command(
    run_id: str = typer.Argument(..., help="A pipeline run id (see 'modelmill run' output)."),
    workspace: Path = WorkspaceOption,
    keep: bool = typer.Option(False, "--keep", help="Keep the scratch workspace (under <workspace>/tmp)."),
    as_json: bool = JsonOption,
) -> None:
    """Re-run RUN_ID from its config and pinned inputs (cache bypassed); exit 0 iff predictions match."""
    from modelmill.lifecycle.reproduce import reproduce
    from modelmill.runner.progress import PlainReporter

    result = reproduce(run_id, workspace=workspace, keep_scratch=keep, reporter=PlainReporter(sys.stderr))
    if as_json:
        print_json(result.to_dict())
    else:
        _print(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
