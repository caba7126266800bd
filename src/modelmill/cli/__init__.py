"""The ``modelmill`` command line: one module per verb, each a thin layer over the API."""

from __future__ import annotations

import typer

from modelmill.cli import artifacts, check, eda, lineage, promote, run, score, serve, sweep, test_model, ui
from modelmill.cli.init import init_command
from modelmill.cli.monitor import monitor_command
from modelmill.cli.release import release_command, releases_command
from modelmill.cli.reproduce import reproduce_command
from modelmill.cli.retrain import retrain_command
from modelmill.cli.rollout import app as rollout_app
from modelmill.cli.step import app as step_app

app = typer.Typer(
    name="modelmill",
    no_args_is_help=True,
    add_completion=False,
    help="Turn a tabular dataset into a tested, versioned model, reproducibly.",
)
app.command("init")(init_command)
app.command("run")(run.run_command)
app.add_typer(artifacts.app, name="artifacts")
app.command("lineage")(lineage.lineage_command)
app.command("check")(check.check_command)
app.command("promote")(promote.promote_command)
app.command("test")(test_model.test_command)
app.command("sweep")(sweep.sweep_command)
app.command("score")(score.score_command)
app.command("serve")(serve.serve_command)
app.command("ui")(ui.ui_command)
app.command("eda")(eda.eda_command)
app.command("monitor")(monitor_command)
app.command("retrain")(retrain_command)
app.command("reproduce")(reproduce_command)
app.command("release")(release_command)
app.command("releases")(releases_command)
app.add_typer(step_app, name="step")
app.add_typer(rollout_app, name="rollout")


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
