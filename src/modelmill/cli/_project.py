"""The project a command works on: its config's defaults, and where its workspace is.

``serve``, ``score``, ``monitor``, ``eda`` and ``ui`` read their defaults (the model, the id
column, the target, the workspace, the experiment) from the config ``modelmill run`` uses:
the project's ``conf/`` (found from the current folder, or ``--config-dir``), else the
packaged one. See :mod:`modelmill.projects.defaults`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer

ConfigDirOption = typer.Option(
    None,
    "--config-dir",
    help="The project's config directory (default: the project's conf/, as modelmill run finds it).",
)


def project(config_dir: Path | None = None, overrides: Sequence[str] = ()) -> Any:
    """The :class:`~modelmill.projects.defaults.ProjectDefaults` of the project's config."""
    from modelmill.projects.defaults import project_defaults

    return project_defaults(overrides, config_dir=config_dir)


class LazyProject:
    """The project's defaults, composed on first use only: composing the config costs 0.4 s
    (Hydra), which ``score`` spares when its command line and the model say everything."""

    def __init__(self, config_dir: Path | None = None) -> None:
        from modelmill.config import activate_project, project_root

        self.config_dir = config_dir
        self._defaults: Any = None
        activate_project(project_root(config_dir))  # the project's own modules import, composed or not
        if config_dir is not None:  # asked for by name: read (and checked) even if nothing needs it
            self()

    def __call__(self) -> Any:
        if self._defaults is None:
            self._defaults = project(self.config_dir)
        return self._defaults


class LazyWorkspace:
    """A workspace opened at its first use: scoring a ``--model`` directory needs none, so the
    config (0.4 s of Hydra, for the workspace's path) is composed only when a reference does."""

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._opener = opener
        self._opened: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._opened is None:
            self._opened = self._opener()
        return getattr(self._opened, name)


def workspace_of(workspace: Path | None, defaults: Any) -> Path:
    """``--workspace`` (or ``$MODELMILL_HOME``), else the config's ``main.workspace``."""
    return workspace if workspace is not None else defaults.workspace
