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
    source, env = result.source, result.environment
    if source.get("mode") == "restored":
        diff = f" + diff {source['diff']}" if source.get("diff") else ""
        release = f" (release {source['release']})" if source.get("release") else ""
        typer.echo(f"  code: the run's, commit {source['commit'][:12]}{diff}{release} (temporary worktree)")
    else:
        typer.echo("  code: as it is here")
    if env.get("mode") == "rebuilt":
        typer.echo(f"  environment: rebuilt from {env['lock']} ({env['reason']})")
    elif env:
        typer.echo(f"  environment: this one ({env.get('reason', '')})")
    for name, (old, new) in result.library_changes.items():
        typer.echo(f"  library {name}: {old} -> {new}")
    for name, modules in result.code_changes.items():
        typer.echo(f"  code of step {name} differs: {', '.join(modules)}")
    if result.differing_outputs:
        typer.echo(f"  re-run data differs from the run's: {', '.join(result.differing_outputs)}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


@handle_errors
def reproduce_command(
    run_id: str = typer.Argument(..., help="A pipeline run id (see 'modelmill run' output)."),
    workspace: Path = WorkspaceOption,
    keep: bool = typer.Option(False, "--keep", help="Keep the scratch workspace (under <workspace>/tmp)."),
    env: bool = typer.Option(
        False, "--env", help="Rebuild the run's environment from its recorded lock even when it is this one."
    ),
    offline: bool = typer.Option(
        None, "--offline/--online", help="Install that environment from environments.find_links wheels "
        "only (default: the run's environments.offline)."
    ),
    current_code: bool = typer.Option(
        False, "--current-code", help="Re-fit with the code as it is here, in this environment (no checkout)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Re-run RUN_ID from its config and pinned inputs (cache bypassed); exit 0 iff predictions match.

    The run's own code comes back (its commit and diff, in a git worktree);
    its environment is rebuilt from its lock when that differs (or --env).
    """
    from modelmill.lifecycle.reproduce import reproduce
    from modelmill.runner.progress import PlainReporter

    result = reproduce(run_id, workspace=workspace, keep_scratch=keep, reporter=PlainReporter(sys.stderr),
                       current_code=current_code, rebuild_env=env, offline=offline)  # fmt: skip
    if as_json:
        print_json(result.to_dict())
    else:
        _print(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
