"""The web UI's FastAPI app: ``create_app(workspace, allow_writes=False)``.

Server-rendered HTML over the workspace. Read-only unless ``allow_writes``: the one
write (pointing an alias at a version) is a POST that answers 403 otherwise. Report
files are served only when the name and version resolve in the store and the file is
one of that version's stored files, so no request path ever reaches the file system.
"""

from __future__ import annotations

import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from modelmill.core.errors import (
    ArtifactNotFoundError,
    IntegrityError,
    ModelmillError,
    UsageError,
)
from modelmill.core.names import version_number
from modelmill.registry.promotion import refuse_prod_by_hand
from modelmill.store.lineage import build_lineage
from modelmill.store.workspace import Workspace
from modelmill.ui import data, pages
from modelmill.ui.html import esc, page, url

# reports are our own files, but nothing they contain may reach out of the machine
# sandbox (an opaque origin) and no script: a stored page cannot drive the UI's own forms
REPORT_CSP = (
    "sandbox; default-src 'self' data: 'unsafe-inline'; script-src 'none'; connect-src 'none'; "
    "form-action 'none'"
)


@dataclass(frozen=True)
class UISettings:
    """What every route needs: the workspace, whether writes are allowed, the MLflow UI address."""

    workspace: Workspace
    allow_writes: bool = False
    mlflow_url: str | None = data.DEFAULT_MLFLOW_UI


def get_ui(request: Request) -> UISettings:
    """Dependency: the settings the app was created with."""
    return request.app.state.ui


def open_existing(path: str | os.PathLike[str]) -> Workspace:
    """A workspace that already exists (the UI never creates an empty one by accident)."""
    root = Path(path).absolute()
    if not (root / "index.db").is_file():
        raise UsageError(
            f"no modelmill workspace at {root}: run 'modelmill run' there first, or point "
            "--workspace / MODELMILL_HOME at an existing one"
        )
    return Workspace(root)


def not_found(message: str) -> HTMLResponse:
    """A 404 page naming what was missing."""
    return HTMLResponse(page("Not found", f'<p class="err">{esc(message)}</p>'), status_code=404)


def create_app(workspace: Workspace | str | os.PathLike[str], allow_writes: bool = False,
               mlflow_url: str | None = data.DEFAULT_MLFLOW_UI,
               allowed_hosts: list[str] | None = None) -> FastAPI:  # fmt: skip
    """The UI app for one existing workspace.

    ``allowed_hosts`` (Host header values) defends a loopback-only UI against DNS rebinding.
    """
    ws = workspace if isinstance(workspace, Workspace) else open_existing(workspace)
    app = FastAPI(title="modelmill ui", docs_url=None, redoc_url=None, openapi_url=None)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.state.ui = UISettings(ws, allow_writes, mlflow_url)
    _read_routes(app)
    _report_routes(app)
    _write_routes(app)

    @app.exception_handler(ModelmillError)
    async def _store_error(request: Request, exc: ModelmillError) -> HTMLResponse:
        code = _status(exc)
        return HTMLResponse(page("Error", f'<p class="err">{esc(exc)}</p>'), status_code=code)

    return app


def _status(exc: ModelmillError) -> int:
    """A bad URL is the client's (4xx); stored bytes that fail verification are a conflict
    between the index and the blobs (409, fixed with ``modelmill artifacts verify``), not a crash."""
    if isinstance(exc, ArtifactNotFoundError):
        return 404
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, IntegrityError):
        return 409
    return 503


def _read_routes(app: FastAPI) -> None:
    @app.get("/healthz")
    def health(ui: UISettings = Depends(get_ui)) -> JSONResponse:
        return JSONResponse({"status": "ok", "workspace": str(ui.workspace.root), "writes": ui.allow_writes})

    @app.get("/", response_class=HTMLResponse)
    def artifacts(ui: UISettings = Depends(get_ui)) -> str:
        return pages.artifacts_page(ui.workspace.store.versions(), str(ui.workspace.root))

    @app.get("/artifacts/{name}/{version}", response_class=HTMLResponse)
    def artifact(name: str, version: str, msg: str = "", ui: UISettings = Depends(get_ui)) -> Response:
        number = version_number(version)
        v = data.find_version(ui.workspace, name, number) if number is not None else None
        if v is None:
            return not_found(f"no artifact version {name}:{version} in this workspace")
        everything = ui.workspace.store.versions()
        graph = build_lineage(ui.workspace.store, v.ref, "both")
        related = [n for n, attrs in graph.nodes.items() if attrs["kind"] == "artifact"]
        candidates = data.reports_about(v, related, everything)
        reports = [(r, files) for r in candidates if (files := data.report_files(ui.workspace, r))]
        return HTMLResponse(pages.artifact_page(v, graph, reports, ui.allow_writes, msg))

    @app.get("/runs", response_class=HTMLResponse)
    def runs(ui: UISettings = Depends(get_ui)) -> str:
        return pages.runs_page(data.list_runs(ui.workspace))

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(run_id: str, ui: UISettings = Depends(get_ui)) -> Response:
        record = data.get_run(ui.workspace, run_id)
        if record is None:
            return not_found(f"no pipeline run {run_id} in this workspace")
        produced = [v for v in ui.workspace.store.versions() if v.run_id == run_id]
        uri = record.tracking_uri(ui.workspace)
        return HTMLResponse(pages.run_page(record, produced, uri, ui.mlflow_url))

    @app.get("/sweeps", response_class=HTMLResponse)
    def sweeps(sort: str = "", order: str = "asc", ui: UISettings = Depends(get_ui)) -> str:
        order = "desc" if order == "desc" else "asc"
        return pages.sweeps_page(data.list_sweeps(ui.workspace), sort or None, order)


def _report_routes(app: FastAPI) -> None:
    @app.get("/reports/{name}/{version}/{relative:path}")
    def report(name: str, version: str, relative: str, ui: UISettings = Depends(get_ui)) -> Response:
        number = version_number(version)
        v = data.find_version(ui.workspace, name, number) if number is not None else None
        target = data.report_file(ui.workspace, v, relative) if v is not None else None
        if target is None:
            return not_found(f"no report file {relative!r} in {name}:{version}")
        media = _media_type(relative, target)
        headers = {"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"}
        return FileResponse(target, media_type=media, headers=headers)


def _media_type(relative: str, target: Path) -> str:
    """By the stored file's name (a file artifact's blob has none: its artifact name counts)."""
    guessed = mimetypes.guess_type(relative)[0]
    if guessed:
        return guessed
    with open(target, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return "text/html" if head.startswith((b"<!doctype html", b"<html")) else "text/plain"


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on a form POST; another site's page must not move our aliases."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.url.netloc


def _write_routes(app: FastAPI) -> None:
    @app.post("/artifacts/{name}/{version}/alias")
    async def set_alias(
        name: str, version: str, request: Request, ui: UISettings = Depends(get_ui)
    ) -> Response:
        if not ui.allow_writes:
            message = "the UI is read-only: restart it with 'modelmill ui --allow-writes' to set aliases"
            return HTMLResponse(page("Forbidden", f'<p class="err">{esc(message)}</p>'), status_code=403)
        if not _same_origin(request):
            return HTMLResponse(page("Forbidden", '<p class="err">cross-site request refused</p>'), 403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        alias = (form.get("alias") or [""])[0].strip()
        number = version_number(version)
        v = (
            await run_in_threadpool(data.find_version, ui.workspace, name, number)
            if number is not None
            else None
        )
        if v is None:
            return not_found(f"no artifact version {name}:{version} in this workspace")
        try:
            refuse_prod_by_hand(v.type, alias)
            await run_in_threadpool(ui.workspace.store.set_alias, v.ref, alias, "set from modelmill ui")
        except UsageError as exc:
            return HTMLResponse(page("Invalid alias", f'<p class="err">{esc(exc)}</p>'), status_code=400)
        target = url("artifacts", v.name, v.version, msg=f"alias '{alias}' now points at {v.ref}")
        return RedirectResponse(target, status_code=303)
