"""``modelmill init DIR --data FILE --target COL``: a project folder for a table, ready to run."""

from __future__ import annotations

from pathlib import Path

import typer

from modelmill.cli._common import JsonOption, handle_errors, print_json


@handle_errors
def init_command(
    directory: Path = typer.Argument(..., metavar="DIR", help="The project folder to create."),
    data: Path = typer.Option(
        ..., "--data", "-d", help="The table: a CSV or Parquet file (a sample is read)."
    ),
    target: str = typer.Option(..., "--target", "-t", help="The column to predict."),
    name: str = typer.Option(
        None,
        "--name",
        help="Names the dataset spec, the registered model and the experiment "
        "(default: the data file's name).",
    ),
    task: str = typer.Option(
        None, "--task", help="regression, binary or multiclass (default: inferred from the target)."
    ),
    id_column: str = typer.Option(
        None, "--id", help="The column naming each row (default: a unique column named like an id)."
    ),
    force: bool = typer.Option(False, "--force", help="Write into a folder that is not empty."),
    as_json: bool = JsonOption,
) -> None:
    """Infer the dataset spec of a table and write a project: conf/, README, .gitignore, steps/."""
    from modelmill.projects.scaffold import init_project

    result = init_project(directory, data, target, name=name, task=task, id_column=id_column, force=force)
    if as_json:
        print_json(result.to_dict())
        return
    draft, sample = result.draft, result.sample
    read = f"the first {sample.rows:,} of about {sample.estimated_rows:,} rows" if sample.truncated else (
        f"{sample.rows:,} rows")  # fmt: skip
    typer.echo(f"created {result.directory} ({result.name}: {draft.task} on '{draft.target}', "
               f"{read} read in {result.seconds:.1f}s)")  # fmt: skip
    width = max(len(c.name) for c in draft.columns)
    for column in draft.columns:
        typer.echo(f"  {column.name:<{width}}  {column.role:<11}  {column.reason}")
    spec = Path("conf") / "dataset" / f"{result.name}.yaml"
    typer.echo(f"review {spec} (each column says why), then:")
    typer.echo(f"  cd {directory} && modelmill run")
