"""``modelmill step new NAME``: scaffold a step of the project's own (module or script,
declaration, test), like the course's ``cookie-mlflow-step``."""

from __future__ import annotations

import typer

from modelmill.cli._common import JsonOption, handle_errors, print_json

app = typer.Typer(no_args_is_help=True, help="The project's own pipeline steps.")


@app.command("new")
@handle_errors
def new_command(
    name: str = typer.Argument(..., metavar="NAME", help="The step's name: a Python identifier."),
    command: bool = typer.Option(
        False, "--command", help="A command step (steps/NAME.sh, POSIX sh) instead of a Python function."
    ),
    inputs: list[str] = typer.Option(
        [],
        "--input",
        metavar="ARTIFACT",
        help="An artifact the step reads (another step's output, or NAME:ALIAS); repeat for more "
        "(default: clean_sample.csv, the cleaned table).",
    ),
    outputs: list[str] = typer.Option(
        [],
        "--output",
        metavar="NAME:TYPE",
        help="An artifact the step writes and its type; repeat for more (default: NAME.json:NAME).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write steps/NAME.py (or .sh), its declaration in conf/config.yaml and tests/test_NAME.py."""
    from modelmill.projects.step_scaffold import new_step

    result = new_step(name, command=command, inputs=inputs, outputs=outputs)
    if as_json:
        print_json(result.to_dict())
        return
    decl = result.declaration
    kind = f"command: {decl['command']}" if command else f"function {decl['function']}"
    typer.echo(f"created step {name} in {result.project} ({kind})")
    typer.echo(f"  reads {', '.join(decl['inputs'])}; writes "
               + ", ".join(f"{a} ({t})" for a, t in decl["outputs"].items()))  # fmt: skip
    for path in result.files:
        typer.echo(f"  {path.relative_to(result.project)}")
    typer.echo(f"then: pytest tests/test_{name}.py && modelmill run")
