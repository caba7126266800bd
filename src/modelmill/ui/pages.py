"""The pages: artifacts, one artifact version, pipeline runs, one run, sweeps.

Each function takes what it shows and returns a whole HTML document; the routes in
:mod:`modelmill.ui.app` only look things up and pick the page.
"""

from __future__ import annotations

import json
from typing import Any

from modelmill.core.types import ArtifactVersion
from modelmill.store.lineage import LineageGraph
from modelmill.ui import data
from modelmill.ui.graph import lineage_svg
from modelmill.ui.html import esc, link, number, page, size, status, table, tags, url, when


def version_link(ref: str) -> str:
    """``name:vN`` linked to its page."""
    name, _, version = ref.rpartition(":v")
    return link(url("artifacts", name, version), ref)


def run_link(run_id: str | None, step: str | None = None) -> str:
    """A pipeline run id linked to its page (with the step name, when given)."""
    if not run_id:
        return esc(step or "")
    suffix = f" ({esc(step)})" if step else ""
    return link(url("runs", run_id), run_id) + suffix


def artifacts_page(versions: list[ArtifactVersion], root: str) -> str:
    """Every version of every name, grouped by name, newest version first."""
    rows, previous = [], None
    for v in sorted(versions, key=lambda v: (v.name, -v.version)):
        rows.append([
            f'<b class="artifact-name">{esc(v.name)}</b>' if v.name != previous else "",
            version_link(v.ref), esc(v.type), tags(v.aliases), esc(size(v.size)),
            run_link(v.run_id, v.step), esc(when(v.created)),
        ])  # fmt: skip
        previous = v.name
    names = len({v.name for v in versions})
    headers = ["name", "version", "type", "aliases", "size", "produced by run (step)", "created"]
    empty = '<p class="note">No artifacts yet: run <code>modelmill run</code>.</p>'
    body = table(headers, rows, cls="artifacts") if rows else empty
    return page("Artifacts", body, subtitle=f"{names} names, {len(versions)} versions in {root}")


def _meta_rows(v: ArtifactVersion) -> list[list[str]]:
    inputs = ", ".join(version_link(i) for i in v.inputs) or '<span class="note">none</span>'
    return [
        ["type", esc(v.type)], ["kind", esc(v.kind)], ["aliases", tags(v.aliases)],
        ["size", esc(size(v.size))], ["digest", f"<code>sha256:{esc(v.digest)}</code>"],
        ["created", esc(when(v.created))], ["produced by", run_link(v.run_id, v.step)],
        ["inputs", inputs], ["description", esc(v.description)],
    ]  # fmt: skip


def _reports(reports: list[tuple[ArtifactVersion, list[str]]]) -> str:
    if not reports:
        return '<p class="note">No reports for this version.</p>'
    items = []
    for r, files in reports:
        pages = [f for f in files if f.endswith((".html", ".htm"))] or files[:1]
        hrefs = " ".join(link(url("reports", r.name, r.version, *f.split("/")), f, data_testid="report-link")
                         for f in pages)  # fmt: skip
        items.append(f"<li>{version_link(r.ref)} ({esc(r.type)}): {hrefs}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _alias_form(v: ArtifactVersion, allow_writes: bool) -> str:
    if not allow_writes:
        hint = "Read-only: start <code>modelmill ui --allow-writes</code> to set aliases here."
        return f'<p class="note">{hint}</p>'
    return (
        f'<form method="post" action="{esc(url("artifacts", v.name, v.version, "alias"))}" class="inline">'
        '<label>Point alias <input name="alias" required placeholder="prod"></label> '
        f'at {esc(v.ref)} <button type="submit">Set alias</button></form>'
    )


def artifact_page(v: ArtifactVersion, graph: LineageGraph, reports: list[tuple[ArtifactVersion, list[str]]],
                  allow_writes: bool, message: str = "") -> str:  # fmt: skip
    """Metadata, reports, the lineage graph (upstream and downstream) and the alias form."""
    note = f'<p class="note" role="status">{esc(message)}</p>' if message else ""
    metadata = json.dumps(v.metadata, indent=2, sort_keys=True, default=str)
    body = (
        f"{note}{table(['field', 'value'], _meta_rows(v), cls='meta')}"
        f"<h2>Reports</h2>{_reports(reports)}"
        f'<h2>Lineage</h2><p class="note">{len(graph.nodes)} nodes, {len(graph.edges)} edges: '
        "boxes are artifact versions, ellipses the step runs that produced them; click a node.</p>"
        f'<div class="graph">{lineage_svg(graph)}</div>'
        f"<h2>Aliases</h2>{_alias_form(v, allow_writes)}"
        f"<h2>Metadata</h2><pre>{esc(metadata)}</pre>"
    )
    return page(v.ref, body, subtitle=f"{v.type} produced by {v.step or 'a user'}")


def runs_page(runs: list[data.RunRecord]) -> str:
    """Pipeline runs, newest first, with each step's outcome in one cell."""
    rows = []
    for r in runs:
        steps = " ".join(f"{esc(s.get('name'))}:{status(str(s.get('status')))}" for s in r.steps)
        seconds = sum(float(s.get("seconds") or 0) for s in r.steps)
        rows.append([link(url("runs", r.run_id), r.run_id, data_testid="run-link"), status(r.status),
                     esc(when(r.started)), f"{seconds:.2f}", steps])  # fmt: skip
    body = table(["run", "status", "started", "step seconds", "steps"], rows, cls="runs") if rows else (
        '<p class="note">No pipeline runs recorded yet.</p>')  # fmt: skip
    return page("Pipeline runs", body)


def _mlflow(r: data.RunRecord, tracking_uri: str, mlflow_url: str | None) -> str:
    if not r.tracking_run_id:
        return '<p class="note">Not tracked in MLflow (main.tracking=none, or tracking did not finish).</p>'
    href = data.mlflow_link(tracking_uri, r.tracking_run_id, mlflow_url)
    shown = link(href, f"MLflow run {r.tracking_run_id}", data_testid="mlflow-link") if href else esc(
        r.tracking_run_id)  # fmt: skip
    return (
        f'<p>{shown}</p><p class="note">tracking store: <code>{esc(tracking_uri)}</code>; for a local store '
        f"run <code>mlflow ui --backend-store-uri {esc(tracking_uri)}</code>.</p>"
    )


def run_page(
    r: data.RunRecord, produced: list[ArtifactVersion], tracking_uri: str, mlflow_url: str | None
) -> str:
    """A run's steps (status, seconds, inputs, outputs, reason), metrics, artifacts and MLflow link."""
    steps = [
        [esc(s.get("name")), status(str(s.get("status"))), f"{float(s.get('seconds') or 0):.3f}",
         ", ".join(version_link(i) for i in s.get("inputs") or []),
         ", ".join(version_link(o) for o in s.get("outputs") or []),
         esc(s.get("reason")) + (f'<div class="err">{esc(s.get("error"))}</div>' if s.get("error") else "")]
        for s in r.steps
    ]  # fmt: skip
    metrics = [[esc(k), number(v)] for k, v in sorted(r.metrics.items())]
    made = ", ".join(version_link(v.ref) for v in produced) or '<span class="note">none (all cached)</span>'
    error = f'<p class="err">{esc(r.summary["error"])}</p>' if r.summary.get("error") else ""
    body = (
        f"<p>status {status(r.status)}, started {esc(when(r.started))}, "
        f"finished {esc(when(r.finished))}</p>{error}<h2>Steps</h2>"
        f"{table(['step', 'status', 'seconds', 'inputs', 'outputs', 'reason'], steps, cls='steps')}"
        f"<h2>Metrics</h2>{table(['metric', 'value'], metrics, cls='metrics')}"
        f"<h2>Artifacts stored by this run</h2><p>{made}</p>"
        f"<h2>MLflow</h2>{_mlflow(r, tracking_uri, mlflow_url)}"
        f"<h2>Config</h2><pre>{esc(r.config)}</pre>"
    )
    return page(f"Run {r.run_id}", body)


def _sort_header(metric: str, current: str | None, order: str) -> str:
    nxt = "desc" if current == metric and order == "asc" else "asc"
    arrow = {"asc": " ▲", "desc": " ▼"}[order] if current == metric else ""
    return link(url("sweeps", sort=metric, order=nxt), metric + arrow, data_sort=metric)


def _sweep_table(doc: dict[str, Any], metric: str | None, order: str) -> str:
    trials = list(doc.get("trials") or [])
    keys = sorted({k for t in trials for k in t.get("params") or {}})
    shown = sorted({m for t in trials for m in t.get("metrics") or {} if m.startswith(("test_", "val_"))})
    headers = [
        "trial",
        "status",
        *map(esc, keys),
        *(_sort_header(m, metric, order) for m in shown),
        "model",
        "run",
    ]
    rows = [
        [esc(t.get("index")), status("ok" if t.get("status") == "ok" else "failed"),
         *(esc((t.get("params") or {}).get(k, "")) for k in keys),
         *(number((t.get("metrics") or {}).get(m, "")) for m in shown),
         version_link(t["model"]) if t.get("model") else esc(t.get("error", ""))[:200],
         run_link(t.get("run_id"))]
        for t in data.sort_trials(trials, metric, order)
    ]  # fmt: skip
    return table(headers, rows, cls="sweep", raw_headers=True)


def sweeps_page(sweeps: list[tuple[ArtifactVersion, dict[str, Any]]], metric: str | None, order: str) -> str:
    """One comparison table per stored sweep; metric headers sort (server-side) on click."""
    parts = []
    for v, doc in sweeps:
        best = doc.get("best")
        parts.append(
            f'<h2>{esc(doc.get("sweep_id", v.ref))}</h2><p class="note">{version_link(v.ref)}: ranked by '
            f"{esc(doc.get('metric'))} ({esc(doc.get('direction'))}), best trial {esc(best)}, "
            f"{len(doc.get('trials') or [])} trials</p>{_sweep_table(doc, metric, order)}"
        )
    body = "".join(parts) or '<p class="note">No sweeps yet: run <code>modelmill sweep</code>.</p>'
    return page("Sweeps", body, subtitle=f"sorted by {metric} ({order})" if metric else "in ranked order")
