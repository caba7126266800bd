"""The served model: where it comes from, how it loads, and the atomic hot swap.

A :class:`ModelSource` says which version the configured URI/ref points to *now*
(:meth:`ModelSource.current`) and fetches its files. :class:`ModelHolder` keeps the
:class:`LoadedModel` in one attribute: requests read it once and keep that object, so a
swap (a single reference assignment) never changes a model under an in-flight request.
A new version is fetched (a registry copy is verified against its recorded digest),
loaded and smoke-tested by :func:`modelmill.registry.checks.load_checked` (the check
promotion runs), its request schema built and the input example predicted through the
request path *before* the swap; any failure refuses the version (the old one keeps
serving) and is recorded for ``/metadata``, ``/ready`` and the log. When nothing serves
yet and ``serve.fallback`` is on, the newest older version that loads is served instead,
and ``/ready`` and ``/metadata`` say so.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from modelmill.serve.loaded_model import LoadedModel, Target, smoke_test
from modelmill.serve.schema import build_request_model, columns_from_signature, example_records
from modelmill.serve.settings import ServeSettings

__all__ = ["LoadedModel", "ModelHolder", "ModelSource", "Target", "single_threaded", "smoke_test"]

log = logging.getLogger("modelmill.serve")
FALLBACK_TRIES = 5  # older versions tried, newest first, when the wanted one is refused at start


class ModelSource:
    """Resolve ``settings.model`` against the workspace registry or artifact store (through
    :class:`modelmill.registry.references.ModelResolver`, the resolver every command uses)."""

    def __init__(self, settings: ServeSettings) -> None:
        from modelmill.api import open_workspace
        from modelmill.registry.references import ModelResolver, parse_reference

        self.reference = parse_reference(settings.model, directories=False)
        self.uri = settings.model
        self.ws = open_workspace(settings.workspace)
        self.resolver = ModelResolver(self.ws, settings.tracking_uri)
        self.runtime = settings.runtime
        self.drift_window = settings.drift_window
        self.fallback = settings.fallback

    @property
    def moves(self) -> bool:
        """Whether the URI names an alias (worth polling) rather than a fixed version."""
        return self.reference.moves

    def current(self) -> Target | None:
        """The version the URI points to now, or ``None`` (alias not set yet)."""
        found = self.resolver.find(self.reference)
        return None if found is None else _target(found, self.uri)

    def older(self, target: Target) -> list[Target]:
        """Versions of the same model older than ``target``, newest first (fallback candidates)."""
        return [_target(r, r.pinned) for r in self.resolver.older(target.resolved)]

    def load(self, target: Target) -> LoadedModel:
        """Fetch (verified), load and smoke-test ``target`` (raises on any failure)."""
        from modelmill.registry.checks import load_checked
        from modelmill.runner.releases import origin
        from modelmill.serve.drift import load_feed

        started = time.perf_counter()
        # the exact version current() saw, even if the alias moves meanwhile; a download is removed
        with self.resolver.fetch(target.resolved) as path:
            checked = load_checked(path, label=target.label, runtime=self.runtime, threads=1)
            drift, drift_reason = load_feed(path, self.drift_window)  # the reference is in the model dir
        sklearn, meta = checked.sklearn, checked.meta
        single_threaded(sklearn.pipeline)
        columns = columns_from_signature(meta.signature)
        request_model = build_request_model(columns)
        reference = sklearn if checked.predictor is not sklearn else None
        model = LoadedModel(
            target, checked.predictor, columns, request_model, meta.signature.to_dict(), time.time(), 0.0,
            fallback=reference, drift=drift, drift_reason=drift_reason,
        )  # fmt: skip
        rows = [request_model.model_validate(r) for r in example_records(checked.example, columns)]
        smoke_test(model, rows)
        if target.training_run_id is None and getattr(meta, "run_id", None):
            model.target = replace(target, training_run_id=meta.run_id)
        model.origin = origin(self.ws, model.target.training_run_id)  # the release it came from
        model.load_seconds = time.perf_counter() - started
        return model


def _target(found: Any, uri: str) -> Target:
    """The service's view of a :class:`~modelmill.registry.references.ResolvedModel`."""
    registered = found.registry_version
    return Target(
        found.name, str(found.version), found.reference.alias, uri, found.training_run_id,
        registered.run_id if registered else None, registered.source if registered else found.label,
        resolved=found,
    )  # fmt: skip


@dataclass
class ModelHolder:
    """The current model, the last refused version and the swap history of one app.

    ``fallback`` is set while the service answers with an older version because the one the
    URI names could not be loaded at start (only with ``serve.fallback``): what was wanted
    and why it was refused. It clears once the URI names a version that loads."""

    current: LoadedModel | None = None
    last_refused: dict[str, Any] | None = None
    last_error: str | None = None
    fallback: dict[str, Any] | None = None
    swaps: int = 0
    blocked: set[str] = field(default_factory=set)  # versions dropped for good (a rolled-back challenger)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _swap_lock: threading.Lock = field(default_factory=threading.Lock)  # swap vs drop, never held long
    _refused_keys: set[str] = field(default_factory=set)

    def refresh(self, source: ModelSource, on_event: Any = None, target: Target | None = None) -> str:
        """Load the version the source points to if it is new: ``unchanged``, ``swapped``,
        ``refused``, ``skipped`` (known bad version), ``missing`` (nothing to load yet) or
        ``fallback`` (refused at start, an older version swapped in instead). ``target``: the
        version the caller has just resolved (the registry is then not asked again)."""
        with self._lock:  # one refresh at a time; readers never take the lock
            try:
                target = target or source.current()
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error = f"resolving {source.uri}: {exc}"
                log.warning("%s", self.last_error)
                return "missing"
            if target is None:
                self.last_error = f"{source.uri} does not point to a model yet"
                return "missing"
            if self.current is not None and self.current.target.key == target.key:
                if self.fallback is not None:  # the URI names the stand-in itself now
                    self.fallback, self.current.target = None, target
                return "unchanged"
            if target.key in self._refused_keys or target.key in self.blocked:
                return "skipped"
            loaded = self._load(source, target, on_event)
            if loaded is None:
                if self.current is None and source.fallback:
                    return self._fall_back(source, target, on_event)
                return "refused"
            if not self._swap(loaded, on_event):
                return "skipped"  # dropped for good while it loaded
            self.fallback = None
            return "swapped"

    def drop(self, block: bool = False, only: LoadedModel | None = None) -> LoadedModel | None:
        """Stop serving now (the next request sees no model); ``block``: never take that version
        again; ``only``: only if that model is the one serving. The model dropped, or ``None``."""
        with self._swap_lock:
            if self.current is None or (only is not None and self.current is not only):
                return None
            current, self.current = self.current, None
            if current is not None and block:
                self.blocked.add(current.target.key)
            return current

    def _load(self, source: ModelSource, target: Target, on_event: Any) -> LoadedModel | None:
        """``target`` loaded and smoke-tested, or ``None`` (refused: recorded, logged, never retried)."""
        try:
            return source.load(target)
        except Exception as exc:
            self._refused_keys.add(target.key)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            self.last_refused = {"name": target.name, "version": target.version, "uri": target.uri,
                                 "error": error, "at": time.time()}  # fmt: skip
            serving = self.current.target.key if self.current else "nothing"
            self.last_error = f"{target.label} was refused: {error} (serving {serving})"
            log.error(
                "refused %s version %s: %s (still serving %s)", target.name, target.version, exc, serving
            )
            if on_event:
                on_event("refused", target)
            return None

    def _swap(self, loaded: LoadedModel, on_event: Any) -> bool:
        with self._swap_lock:
            if loaded.target.key in self.blocked:
                return False
            before = self.current.target.key if self.current else None
            self.current = loaded  # the atomic swap
        self.swaps += 1
        self.last_error = None
        log.info("serving %s (was %s), loaded in %.2f s", loaded.target.key, before, loaded.load_seconds)
        if on_event:
            on_event("swapped", loaded.target)
        return True

    def _fall_back(self, source: ModelSource, wanted: Target, on_event: Any) -> str:
        """Nothing serves and ``wanted`` was refused: swap in the newest older version that loads."""
        reason = self.last_error
        try:
            candidates = source.older(wanted)[:FALLBACK_TRIES]
        except Exception as exc:  # the registry went away meanwhile: stay unready, say why
            log.error("no fallback for %s: %s", wanted.label, exc)
            return "refused"
        for candidate in candidates:
            if candidate.key in self._refused_keys:
                continue
            loaded = self._load(source, candidate, on_event)
            if loaded is not None:
                self._swap(loaded, on_event)
                asked = {"name": wanted.name, "version": wanted.version, "uri": wanted.uri}
                self.fallback = {"wanted": asked, "reason": reason}
                log.warning("serving %s instead of %s (serve.fallback): %s", loaded.target.label,
                            wanted.label, reason)  # fmt: skip
                return "fallback"
        self.last_error = f"{reason}; serve.fallback: no older version of {wanted.name} loads either"
        log.error("%s", self.last_error)
        return "refused"


def single_threaded(pipeline: Any) -> Any:
    """Set every ``n_jobs`` in the pipeline to 1: requests are a few rows, and a forest's
    ``n_jobs=-1`` starts a thread pool per ``predict`` (48 ms instead of 25 ms for one
    row with the course's forest on 2 cores); the server's concurrency is per request."""
    jobs = {key: 1 for key in pipeline.get_params(deep=True) if key.endswith("n_jobs")}
    return pipeline.set_params(**jobs) if jobs else pipeline
