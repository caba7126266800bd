"""``modelmill promote``: make a stored model ``prod`` by hand (registry and store together)."""

from __future__ import annotations

from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, open_ws, print_json


@handle_errors
def promote_command(
    ref: str = typer.Argument(..., help="The model to promote: NAME:vN (or NAME:ALIAS)."),
    model_name: str = typer.Option(
        None, "--model-name", help="Registered model name in MLflow (default: main.model_name)."
    ),
    tracking_uri: str = typer.Option(
        None, "--tracking-uri", help="MLflow tracking/registry URI (default: the workspace's SQLite file)."
    ),
    experiment: str = typer.Option(
        None, "--experiment", help="MLflow experiment of the register run (default: main.experiment_name)."
    ),
    note: str = typer.Option("", "--note", help="Why (kept in the alias history)."),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Register the model if needed and move 'prod' to it in the MLflow registry and the store."""
    from modelmill.registry.promotion import promote

    if model_name is None or experiment is None:
        from modelmill.config import compose

        main = compose([]).main
        model_name = model_name or str(main.model_name)
        experiment = experiment or str(main.experiment_name)
    ws = open_ws(workspace)
    result = promote(
        ws,
        ref,
        model_name,
        tracking_uri,
        note=f"promoted by hand (modelmill promote){': ' + note if note else ''}",
        experiment=experiment,
    )
    if as_json:
        print_json(result.to_dict())
        return
    version = result.registry_version
    registered = "registered as" if result.registered else "registry"
    typer.echo(
        f"promoted {result.artifact} to prod ({registered} {model_name} v{version.version}; "
        f"prod was {result.prod_before or 'none'})"
    )
    typer.echo(f"load it with mlflow.pyfunc.load_model('{result.model_uri}')")
