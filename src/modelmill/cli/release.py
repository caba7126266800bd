"""``modelmill release`` and ``modelmill releases``: tag a semantic version of the project, list them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, WorkspaceOption, handle_errors, print_json


def _models(models: list[dict[str, Any]]) -> str:
    if not models:
        return "none recorded"
    return ", ".join(m["ref"] + (" (prod)" if m.get("prod") else " (promoted)" if m.get("promoted") else "")
                     for m in models)  # fmt: skip


@handle_errors
def release_command(
    version: str = typer.Argument(None, help="The version, MAJOR.MINOR.PATCH[-PRERELEASE] (tag vX.Y.Z)."),
    bump: str = typer.Option(None, "--bump", help="Instead of VERSION: the next patch, minor or major."),
    workspace: Path = WorkspaceOption,
    as_json: bool = JsonOption,
) -> None:
    """Release the project's commit: an annotated tag vVERSION with the notes, and a release record.

    Refuses uncommitted changes (untracked files under the project too)
    and a version not higher than the last release tag.
    """
    from modelmill.lifecycle.release import release

    done = release(version, bump=bump, workspace=workspace)
    if as_json:
        print_json(done.to_dict())
        return
    r = done.record
    since = r.previous or "the start"
    typer.echo(f"released {r.tag} at {r.commit[:12]} ({len(r.notes)} commit(s) since {since})")
    typer.echo(f"  models: {_models(r.models)}")
    typer.echo(f"  run it again: modelmill run --rev {r.tag}")


@handle_errors
def releases_command(workspace: Path = WorkspaceOption, as_json: bool = JsonOption) -> None:
    """List the releases: version, tag, commit, date, notes and the models each produced."""
    from modelmill.lifecycle.release import list_releases

    rows = list_releases(workspace)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no release yet: modelmill release --bump minor")
        return
    for r in rows:
        when = datetime.fromtimestamp(r["created"]).strftime("%Y-%m-%d %H:%M") if r["created"] else "-"
        typer.echo(f"{r['tag']:12} {r['commit'][:12]}  {when}  models: {_models(r['models'])}")
        for note in r["notes"][:10]:
            typer.echo(f"    - {note}")
