"""``modelmill artifacts``: list, show, get, put, alias, verify, gc."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from modelmill.cli._common import (
    JsonOption,
    WorkspaceOption,
    fail,
    handle_errors,
    open_ws,
    print_json,
)
from modelmill.core.errors import UsageError
from modelmill.core.types import ArtifactVersion

app = typer.Typer(help="Inspect and manage stored artifacts.", no_args_is_help=True)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _row(v: ArtifactVersion) -> str:
    when = datetime.fromtimestamp(v.created).strftime("%Y-%m-%d %H:%M")
    aliases = ",".join(v.aliases)
    return f"{v.ref:40} {v.type:16} {_size(v.size):>10}  {when}  {v.step or '-':14} {aliases}"


@app.command("list")
@handle_errors
def list_command(
    name: str = typer.Argument(None, help="Only this artifact name."),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """List artifact versions with type, size, producing step and aliases."""
    versions = open_ws(workspace).store.versions(name)
    if as_json:
        print_json([v.to_dict() for v in versions])
        return
    typer.echo(f"{'version':40} {'type':16} {'size':>10}  {'created':16}  {'step':14} aliases")
    for v in versions:
        typer.echo(_row(v))


@app.command("show")
@handle_errors
def show_command(
    ref: str = typer.Argument(..., help="NAME[:vN|:ALIAS]"),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one version: digest, metadata, producing run and inputs, and the code that run ran
    (its git commit, dirty or not, and the release it is)."""
    from modelmill.runner.releases import origin

    ws = open_ws(workspace)
    v = ws.store.resolve(ref)
    came_from = origin(ws, v.run_id)
    if as_json:
        print_json(v.to_dict() | {"origin": came_from})
        return
    for key, value in v.to_dict().items():
        typer.echo(f"{key:12} {json.dumps(value) if isinstance(value, dict | list) else value}")
    if came_from is not None:
        commit = (came_from["commit"] or "no git commit")[:12] + ("+dirty" if came_from["dirty"] else "")
        typer.echo(f"{'release':12} {came_from['release'] or 'none'} (code: {commit})")


@app.command("get")
@handle_errors
def get_command(
    ref: str = typer.Argument(..., help="NAME[:vN|:ALIAS]"),
    dest: Path = typer.Argument(None, help="Destination (default ./NAME; a directory gets DIR/NAME)."),
    workspace: Path = WorkspaceOption,
) -> None:
    """Copy verified content out of the store and print the path written."""
    typer.echo(open_ws(workspace).store.get(ref, dest))


@app.command("put")
@handle_errors
def put_command(
    path: Path = typer.Argument(..., help="File or directory to store."),
    name: str = typer.Option(..., "--name", "-n", help="Artifact name."),
    type: str = typer.Option(..., "--type", "-t", help="Artifact type, e.g. clean_sample."),
    alias: list[str] = typer.Option(None, "--alias", "-a", help="Alias to set (repeatable)."),
    description: str = typer.Option("", "--description", "-d"),
    metadata: str = typer.Option("{}", "--metadata", help="JSON object stored with the version."),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Store a file or directory by hand (e.g. a reference dataset)."""
    if not path.exists():
        raise fail(f"{path} does not exist", 2)
    try:
        meta = json.loads(metadata)
        assert isinstance(meta, dict)
    except (ValueError, AssertionError):
        raise UsageError(f"--metadata must be a JSON object, got {metadata!r}") from None
    from modelmill.registry.promotion import refuse_prod_by_hand

    for each in alias or []:
        refuse_prod_by_hand(type, each)
    v = open_ws(workspace).store.put(
        path, name, type, description=description, metadata=meta, aliases=alias or []
    )
    print_json(v.to_dict()) if as_json else typer.echo(f"stored {v.ref} {' '.join(v.aliases)}")


@app.command("alias")
@handle_errors
def alias_command(
    ref: str = typer.Argument(..., help="NAME:vN (or NAME:ALIAS) the alias should point to."),
    alias: str = typer.Argument(..., help="Alias name, e.g. reference or prod."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias from NAME instead."),
    workspace: Path = WorkspaceOption,
) -> None:
    """Point an alias at a version (moving it if it exists), or delete it."""
    store = open_ws(workspace).store
    if delete:
        store.remove_alias(ref.partition(":")[0], alias)
        typer.echo(f"removed {ref.partition(':')[0]}:{alias}")
        return
    from modelmill.registry.promotion import refuse_prod_by_hand

    refuse_prod_by_hand(store.resolve(ref).type, alias)
    v = store.set_alias(ref, alias)
    typer.echo(f"{v.name}:{alias} -> {v.ref}")


@app.command("verify")
@handle_errors
def verify_command(workspace: Path = WorkspaceOption, as_json: bool = JsonOption) -> None:
    """Re-hash every stored version; exit 1 if any content does not match its digest."""
    store = open_ws(workspace).store
    problems = store.verify()
    count = len(store.versions())
    if as_json:
        print_json({"versions": count, "problems": [p.__dict__ for p in problems]})
    else:
        for p in problems:
            typer.echo(f"CORRUPT {p}", err=True)
        typer.echo(f"verified {count} versions: {len(problems)} problem(s)")
    if problems:
        raise typer.Exit(1)


@app.command("gc")
@handle_errors
def gc_command(
    grace: float = typer.Option(3600.0, "--grace", help="Only remove files older than this (seconds)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed."),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove stray temp files and unreferenced blobs left by interrupted writes."""
    removed = open_ws(workspace).store.gc(grace, dry_run=dry_run)
    if as_json:
        print_json({"dry_run": dry_run, "removed": [str(p) for p in removed]})
        return
    for p in removed:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {p}")
    typer.echo(f"{len(removed)} path(s) {'to remove' if dry_run else 'removed'}")
