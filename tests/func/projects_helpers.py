"""A new user's project on a real public table, driven through the command line in this process.

:func:`new_project` writes the table to a file (CSV or Parquet, outside or inside the project
folder), runs ``modelmill init DIR --data FILE --target COL`` and nothing else: the generated
files are never edited. :func:`mm` runs any other command from a folder of the project, without
``$MODELMILL_HOME`` (the test suite's isolation variable), so the project finds its own ``conf/``
and keeps its workspace in ``DIR/.modelmill`` as it would on a user's machine. The benchmark
(benchmarks/bench_projects.py) uses the same helpers.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# what the suite's autouse fixture sets and a user's shell does not: unset for project commands
UNSET = ("MODELMILL_HOME", "MLFLOW_TRACKING_URI", "MODELMILL_API_KEY")


@dataclass
class Result:
    """What one command printed and returned, and how long it took (in this process)."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self, code: int = 0) -> Result:
        """``self`` when it exited with ``code``; else fail with the command and what it printed."""
        assert self.code == code, (
            f"modelmill {' '.join(self.args)} -> exit {self.code} (expected {code})\n"
            f"stdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
        )
        return self

    def json(self) -> Any:
        return json.loads(self.stdout)


def mm(*args: str, cwd: Path, cache_dir: Path | None = None) -> Result:
    """``modelmill ARGS`` run from ``cwd`` with the real command functions (Typer's runner), as a
    user's shell would: no ``$MODELMILL_HOME``. An exception that escaped the command's error
    handling is appended to ``stderr`` as a traceback (tests assert there is none)."""
    from typer.testing import CliRunner

    from modelmill.cli import app

    env: dict[str, str | None] = dict.fromkeys(UNSET)
    if cache_dir is not None:
        env["MODELMILL_CACHE_DIR"] = str(cache_dir)
    started = time.perf_counter()
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), env=env)
    seconds = time.perf_counter() - started
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return Result(tuple(args), result.exit_code, result.stdout, stderr, seconds)


def statuses(summary: dict[str, Any]) -> dict[str, str]:
    """``{step: ran|cached|failed|skipped}`` of a ``run --json`` summary."""
    return {s["name"]: s["status"] for s in summary["steps"]}


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as a user's file: CSV or Parquet by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def read_table(path: Path) -> pd.DataFrame:
    """The file as a client reads it back (CSV values as their text parses, not the loader's dtypes)."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@dataclass
class Project:
    """One ``modelmill init`` project: where it is, its table, and what ``init`` said."""

    name: str
    target: str
    directory: Path
    data: Path
    init: dict[str, Any]
    cache_dir: Path | None = None
    runs: list[Result] = field(default_factory=list)

    @property
    def workspace(self) -> Path:
        return self.directory / ".modelmill"

    @property
    def frame(self) -> pd.DataFrame:
        return read_table(self.data)

    @property
    def config(self) -> dict[str, Any]:
        """The generated ``conf/config.yaml`` as data (``main.model_name``, ``main.model_artifact``...)."""
        import yaml

        return dict(yaml.safe_load((self.directory / "conf" / "config.yaml").read_text(encoding="utf-8")))

    def mm(self, *args: str, cwd: Path | None = None) -> Result:
        """``modelmill ARGS`` from the project folder (or ``cwd``, a folder below it)."""
        return mm(*args, cwd=cwd or self.directory, cache_dir=self.cache_dir)

    def run(self, *overrides: str, cwd: Path | None = None) -> dict[str, Any]:
        """``modelmill run OVERRIDES --json`` (must succeed) -> its summary; kept in :attr:`runs`."""
        result = self.mm("run", *overrides, "--json", cwd=cwd).check()
        self.runs.append(result)
        return dict(result.json())


def new_project(
    root: Path,
    table: str,
    load: Callable[[], pd.DataFrame],
    target: str,
    *,
    suffix: str = ".csv",
    data_inside: bool = False,
    cache_dir: Path | None = None,
) -> Project:
    """Write ``load()`` to a file and ``modelmill init root/table --data FILE --target TARGET``.

    ``data_inside`` puts the file in the project folder (``DIR/data/``: the config names it
    relative to the project), else next to it (an absolute path)."""
    directory = root / table
    data = (directory / "data" if data_inside else root / "data") / f"{table}{suffix}"
    write_table(load(), data)
    init = mm("init", str(directory), "--data", str(data), "--target", target, "--json",
              cwd=root, cache_dir=cache_dir).check()  # fmt: skip
    return Project(table, target, directory, data, init.json(), cache_dir)


def sample_rows(project: Project, rows: int, seed: int = 3) -> pd.DataFrame:
    """``rows`` random rows of the project's file (in file order) without the target: what a
    client sends. Random, not the first rows: a table sorted by date has its own season there."""
    frame = project.frame.drop(columns=[project.target])
    return frame.sample(n=min(rows, len(frame)), random_state=seed).sort_index()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame`` as JSON records, values as the file spells them, missing values as null."""
    return list(json.loads(frame.to_json(orient="records", date_format="iso")))
