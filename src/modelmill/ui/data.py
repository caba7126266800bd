"""What the pages show, read from the workspace: runs, sweeps, reports, MLflow links.

Everything here only reads. Pipeline runs come from the runner's execution log (the
``pipeline_runs`` table, whose summary holds each step's status and duration); sweeps are
the ``sweep_results`` artifacts the sweep stores; reports are artifact versions whose type
or name says ``report``, served file by file from their verified blob.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelmill.core.errors import ArtifactNotFoundError, ModelmillError
from modelmill.core.names import ArtifactRef
from modelmill.core.types import ArtifactVersion
from modelmill.runner.cache import ExecutionLog
from modelmill.store.workspace import Workspace

SWEEP_RESULTS = "sweep_results"
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"


@dataclass
class RunRecord:
    """One pipeline execution as the runner recorded it."""

    run_id: str
    started: float
    finished: float | None
    status: str
    tracking_run_id: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    config: str = ""

    @property
    def steps(self) -> list[dict[str, Any]]:
        """Step outcomes (name, status ran/cached/failed/skipped, seconds, inputs, outputs)."""
        return list(self.summary.get("steps") or [])

    @property
    def metrics(self) -> dict[str, Any]:
        """The run's metrics, merged over its steps."""
        return dict(self.summary.get("metrics") or {})

    def tracking_uri(self, ws: Workspace) -> str:
        """The MLflow store this run logged to (``main.tracking_uri``, else the workspace's)."""
        try:
            cfg = yaml.safe_load(self.config) or {}
        except yaml.YAMLError:
            cfg = {}
        uri = (cfg.get("main") or {}).get("tracking_uri") if isinstance(cfg, dict) else None
        return str(uri) if uri else ws.default_tracking_uri


def _record(row: sqlite3.Row) -> RunRecord:
    try:
        summary = json.loads(row["summary"] or "{}")
    except json.JSONDecodeError:
        summary = {}
    return RunRecord(row["run_id"], row["started"], row["finished"], row["status"],
                     row["tracking_run_id"], summary, row["config"] or "")  # fmt: skip


def list_runs(ws: Workspace, limit: int = 500) -> list[RunRecord]:
    """Pipeline runs, newest first."""
    ExecutionLog(ws.db)  # creates the tables in a workspace that never ran a pipeline
    rows = ws.db.read(
        lambda c: c.execute("SELECT * FROM pipeline_runs ORDER BY started DESC LIMIT ?", (limit,)).fetchall()
    )
    return [_record(r) for r in rows]


def get_run(ws: Workspace, run_id: str) -> RunRecord | None:
    """One pipeline run, or ``None``."""
    ExecutionLog(ws.db)
    row = ws.db.read(
        lambda c: c.execute("SELECT * FROM pipeline_runs WHERE run_id = ?", (run_id,)).fetchone()
    )
    return _record(row) if row is not None else None


def mlflow_link(tracking_uri: str, run_id: str, ui_url: str | None) -> str | None:
    """The MLflow UI page of a run: on the tracking server itself, else on ``ui_url``."""
    base = tracking_uri if tracking_uri.startswith(("http://", "https://")) else ui_url
    return f"{base.rstrip('/')}/#/runs/{run_id}" if base else None


def find_version(ws: Workspace, name: str, version: int) -> ArtifactVersion | None:
    """``name:vN`` through the store (which validates the name), or ``None``."""
    try:
        return ws.store.resolve(ArtifactRef(name, version=version))
    except (ArtifactNotFoundError, ModelmillError, ValueError):
        return None


EXTRAS = "extras"  # a directory artifact's attached pages, e.g. a model's extras/training_report.html


def is_report(v: ArtifactVersion) -> bool:
    """Reports are versions whose type or name says so (data_check_report, eda_report, ...)."""
    return "report" in v.type.lower() or "report" in v.name.lower()


def report_files(ws: Workspace, v: ArtifactVersion) -> list[str]:
    """Relative paths of the files of a stored report (HTML pages first); for any other
    directory artifact, the HTML pages in its ``extras/`` (a model's training report)."""
    root = ws.store.path(v)
    if not is_report(v):
        pages = (root / EXTRAS).glob("*.html") if root.is_dir() else ()
        return sorted(f"{EXTRAS}/{p.name}" for p in pages if p.is_file() and not p.is_symlink())
    if root.is_file():
        return [v.name]
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return sorted(files, key=lambda f: (not f.endswith((".html", ".htm")), f.count("/"), f))


def report_file(ws: Workspace, v: ArtifactVersion, relative: str) -> Path | None:
    """The blob path of one listed file of a report, or ``None`` (never a path built from input)."""
    files = report_files(ws, v)
    if relative not in files:
        return None
    root = ws.store.path(v, verify=False)  # verified by report_files just now
    return root if root.is_file() else root / relative


def reports_about(
    v: ArtifactVersion, related: list[str], everything: list[ArtifactVersion]
) -> list[ArtifactVersion]:
    """Reports among the version itself and ``related`` refs (its lineage), the version's own
    first; directory artifacts are candidates too (their ``extras/`` pages, if any)."""
    wanted = {v.ref, *related}
    found = [o for o in everything if o.ref in wanted and (is_report(o) or o.kind == "dir")]
    return sorted(found, key=lambda o: (o.ref != v.ref, o.name, o.version))


def list_sweeps(ws: Workspace) -> list[tuple[ArtifactVersion, dict[str, Any]]]:
    """Every stored sweep table with its JSON document, newest first."""
    try:
        versions = ws.store.versions(SWEEP_RESULTS)
    except ModelmillError:
        return []
    out = []
    for v in reversed(versions):
        try:
            out.append((v, json.loads(ws.store.read_text(v.ref))))
        except (ModelmillError, OSError, json.JSONDecodeError):
            continue
    return out


def sort_trials(trials: list[dict[str, Any]], metric: str | None, order: str) -> list[dict[str, Any]]:
    """Trials by a metric (missing values last whatever the order), else as ranked."""
    if not metric:
        return trials
    having = [t for t in trials if isinstance((t.get("metrics") or {}).get(metric), int | float)]
    missing = [t for t in trials if t not in having]
    having.sort(key=lambda t: t["metrics"][metric], reverse=order == "desc")
    return having + missing
