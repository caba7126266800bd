"""``modelmill sweep``: run every combination of Hydra sweep overrides, rank the trials."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, handle_errors, print_json


def _progress(as_json: bool, metric: str) -> Any:
    from modelmill.sweep.ranking import metric_key

    shown = (metric_key(metric),)

    def on_trial(trial: Any, done: int, total: int) -> None:
        metric = ", ".join(f"{k}={v:.4g}" for k, v in trial.metrics.items() if k in shown)
        state = metric if trial.status == "ok" else f"failed: {_first_line(trial.error)}"
        typer.echo(
            f"[trial {done}/{total}] #{trial.index} {' '.join(trial.overrides_short())} {state}", err=True
        )

    return on_trial


def _print_table(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary.sweep_id}: ranked by {summary.metric} ({summary.direction})")
    test_key = "test_" + summary.metric.removeprefix("val_")  # the same metric on the test split
    for name in ("rank", "trial", *_short_keys(summary.swept_keys), summary.metric, test_key, "steps",
                 "model / error"):  # fmt: skip
        table.add_column(name, overflow="fold")
    for position, trial in enumerate(summary.trials, start=1):
        ok = trial.status == "ok"
        ran = " ".join(f"{sum(v == s for v in trial.steps.values())} {s}" for s in ("ran", "cached")
                       if s in trial.steps.values())  # fmt: skip
        values = [trial.params.get(k, "") for k in summary.swept_keys]
        table.add_row(
            str(position) if ok else "-", str(trial.index), *values,
            _fmt(trial.metrics.get(summary.metric)), _fmt(trial.metrics.get(test_key)),
            ran, (trial.model or "") if ok else f"[red]{_first_line(trial.error)}[/red]",
        )  # fmt: skip
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    console.print(table)
    shared = ", ".join(f"{k} {v}" for k, v in summary.shared.items()) or "none"
    typer.echo(f"shared steps, run once before the trials: {shared}")
    typer.echo(f"per trial: {', '.join(summary.plan.per_trial)}; results: {summary.results_ref}")
    if summary.study:
        s = summary.study
        typer.echo(f"optuna study {s['name']} ({s['storage']}): {s['earlier_trials']} earlier trials, "
                   f"{s['new_trials']} new")  # fmt: skip


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _print_promotion(summary: Any) -> None:
    p = summary.promotion
    if p is None:
        return
    verdict = "promoted to prod" if p["promoted"] else "not promoted (the gate kept the current prod)"
    typer.echo(f"best trial #{p['trial']} ({p['model']}): {verdict}")
    for key, value in p["metrics"].items():
        typer.echo(f"  {key} = {value:.6g}")
    if p["error"]:
        typer.echo(f"error: promotion failed: {p['error']}", err=True)


@handle_errors(resume="finished trials are stored: the same sweep again reuses them as cache hits")
def sweep_command(
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides; sweeps like modeling.max_tfidf_features=10,15,30 or choice()/range()."
    ),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Parallel trials (default: the machine's cores)."),
    launcher: str = typer.Option("local", "--launcher", help="local (worker processes) or ray."),
    metric: str = typer.Option(
        None,
        "--metric",
        help="Rank by this validation metric (mae -> val_mae; default: the project's "
        "promotion metric: mae for the NYC table, roc_auc for a binary task, log_loss for multiclass).",
    ),
    direction: str = typer.Option("auto", "--direction", help="auto, minimize or maximize."),
    promote_best: bool = typer.Option(
        False, "--promote-best", help="Send the best trial through the test-set promotion gate."
    ),
    optuna: int = typer.Option(
        0,
        "--optuna",
        help="Bayesian search with Optuna: this many trials over interval()/choice() overrides.",
    ),
    study: str = typer.Option(
        None, "--study", help="Optuna study name (default: derived from the overrides)."
    ),
    seed: int = typer.Option(42, "--seed", help="Optuna sampler seed."),
    config_dir: Path = typer.Option(
        None,
        "--config-dir",
        help="Use this Hydra config directory (default: the conf/ of the project folder holding the "
        "current folder, found by walking up; outside a project, the packaged config).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a hyperparameter sweep: upstream steps once, trials in parallel, a ranked table."""
    from modelmill.sweep import SweepOptions, run_sweep
    from modelmill.sweep.launchers import make_launcher

    if metric is None:
        from modelmill.cli._project import project

        metric = project(config_dir).metric
    opts = SweepOptions(
        jobs=jobs, launcher=make_launcher(launcher, jobs), metric=metric, direction=direction,
        promote_best=promote_best, config_dir=config_dir, on_trial=_progress(as_json, metric),
    )  # fmt: skip
    if optuna:
        from modelmill.sweep.bayes import run_optuna

        summary = run_optuna(overrides or [], optuna, opts, study_name=study, seed=seed)
    else:
        summary = run_sweep(overrides or [], opts)
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_table(summary)
        _print_promotion(summary)
    if summary.error:
        typer.echo(f"error: {summary.error}", err=True)
        raise typer.Exit(summary.exit_code or 1)
    if not any(t.status == "ok" for t in summary.trials):
        typer.echo("error: every trial failed (see the table)", err=True)
        raise typer.Exit(1)
    if summary.promotion and summary.promotion["status"] != "success":
        raise typer.Exit(1)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:90] + ("..." if len(lines[-1]) > 90 else "") if lines else ""


def _short_keys(keys: list[str]) -> list[str]:
    """Column titles: the swept keys without their common dotted prefix."""
    parts = [k.split(".") for k in keys]
    common = 0
    while parts and all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    return [".".join(p[common:]) for p in parts]
