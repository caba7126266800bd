"""``modelmill lineage``: what produced an artifact version, and what it produced."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from modelmill.cli._common import WorkspaceOption, handle_errors, open_ws


class Format(StrEnum):
    """Output formats."""

    text = "text"
    json = "json"
    dot = "dot"


class Direction(StrEnum):
    """Which way to walk the graph."""

    up = "up"
    down = "down"
    both = "both"


@handle_errors
def lineage_command(
    ref: str = typer.Argument(..., help="NAME[:vN|:ALIAS]"),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text tree, json or dot."),
    direction: Direction = typer.Option(Direction.up, "--direction", help="up, down or both."),
    workspace: Path = WorkspaceOption,
) -> None:
    """Show the lineage graph of an artifact version."""
    from modelmill.store.lineage import build_lineage

    graph = build_lineage(open_ws(workspace).store, ref, direction.value)
    typer.echo({"text": graph.to_text, "json": graph.to_json, "dot": graph.to_dot}[fmt.value]())
