"""``modelmill run``: compose the config, run the pipeline, report every step.

Ctrl-C or SIGTERM prints one line naming the interrupted step and how to resume, and exits
130 (the executor says which step; ``handle_errors`` prints it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, handle_errors, print_json
from modelmill.core.types import RunSummary


def _print_summary(summary: RunSummary) -> None:
    counts = {s: sum(r.status == s for r in summary.steps) for s in ("ran", "cached", "failed")}
    typer.echo(
        f"run {summary.run_id}: {summary.status} "
        f"({counts['ran']} ran, {counts['cached']} cached, {counts['failed']} failed)"
    )
    for key, value in summary.metrics.items():
        typer.echo(f"  {key} = {value:.6g}")


def _run_revision(rev: str, overrides: list[str], force: bool, force_step: list[str],
                  config_dir: Path | None, as_json: bool) -> None:  # fmt: skip
    from modelmill.core.errors import UsageError
    from modelmill.lifecycle.revision import run_revision

    if config_dir is not None:
        raise UsageError("--rev runs the revision's own conf/: drop --config-dir")
    done = run_revision(rev, overrides, force=force, force_steps=force_step)
    if as_json:
        print_json(done.to_dict())
    else:
        typer.echo(f"revision {rev}: commit {done.commit[:12]}, release {done.release or 'none'}")
        _print_summary(done.summary)
    if done.exit_code:
        raise typer.Exit(done.exit_code)


@handle_errors
def run_command(
    overrides: list[str] = typer.Argument(
        None,
        help="Hydra overrides, e.g. main.steps=clean,split example.rows=500. The model family is the "
        "config group 'model': model=random_forest (default, modeling.random_forest.*) or "
        "model=hist_gradient_boosting (modeling.hist_gradient_boosting.*).",
    ),
    force: bool = typer.Option(False, "--force", help="Ignore the cache for every selected step."),
    force_step: list[str] = typer.Option(
        None, "--force-step", "-F", help="Ignore the cache for this step (repeatable)."
    ),
    config_dir: Path = typer.Option(
        None,
        "--config-dir",
        help="Use this Hydra config directory (default: the conf/ of the project folder holding the "
        "current folder, found by walking up; outside a project, the packaged config).",
    ),
    rev: str = typer.Option(
        None,
        "--rev",
        help="Run the pipeline of this git revision (a release tag v1.2.0, a branch, a commit) from a "
        "temporary worktree, against this project's workspace: unchanged steps are cache hits.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run the pipeline (or the steps in main.steps); cached steps are skipped."""
    from modelmill.api import run
    from modelmill.runner.progress import PlainReporter, default_reporter

    if rev is not None:
        _run_revision(rev, overrides or [], force, force_step or [], config_dir, as_json)
        return
    reporter = PlainReporter(sys.stderr) if as_json else default_reporter(sys.stderr)
    summary = run(
        overrides or [],
        force=True if force else (force_step or []),
        config_dir=config_dir,
        reporter=reporter,
    )
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    for failed in (r for r in summary.steps if r.status == "failed"):
        typer.echo(f"error: step '{failed.name}' failed: {failed.error}", err=True)
    if summary.status != "success":  # 2 when a step failed on bad usage/config, else 1
        raise typer.Exit(max((r.exit_code for r in summary.steps if r.status == "failed"), default=1) or 1)
