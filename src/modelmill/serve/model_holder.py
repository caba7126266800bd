"""The served model: where it comes from, how it loads, and the atomic hot swap.

A :class:`ModelSource` says which version the configured URI/ref points to *now*
(:meth:`ModelSource.current`) and fetches its files. :class:`ModelHolder` keeps the
:class:`LoadedModel` in one attribute: requests read it once and keep that object, so a
swap (a single reference assignment) never changes a model under an in-flight request.
A new version is loaded, its request schema built and a smoke prediction run on its
input example *before* the swap; any failure refuses the version (the old one keeps
serving) and is recorded for ``/metadata``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from modelmill.serve.schema import (
    Column,
    build_request_model,
    columns_from_signature,
    example_records,
    to_frame,
)
from modelmill.serve.settings import ServeSettings, parse_model_spec

log = logging.getLogger("modelmill.serve")


@dataclass(frozen=True)
class Target:
    """One concrete model version the configured URI resolves to."""

    name: str
    version: str
    alias: str | None
    uri: str
    training_run_id: str | None = None
    registry_run_id: str | None = None
    source: str | None = None  # registry source (runs:/...) or store ref

    @property
    def key(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass
class LoadedModel:
    """A model version with its request schema, ready to predict.

    ``predictor`` is onnxruntime when the export's ONNX graph passed parity (see
    ``modelmill.registry.predictor``), else the scikit-learn pipeline; ``fallback`` is the
    scikit-learn pipeline kept next to an ONNX predictor, which answers if ONNX ever fails."""

    target: Target
    predictor: Any
    columns: list[Column]
    request_model: Any
    signature: dict[str, Any]
    loaded_at: float
    load_seconds: float
    fallback: Any = None
    onnx_failures: int = 0
    drift: Any = None  # DriftFeed, None when the model has no training reference
    drift_reason: str | None = None  # why there is no live drift

    @cached_property
    def list_adapter(self) -> Any:
        """Validates a JSON list of listings against :attr:`request_model`."""
        from pydantic import TypeAdapter

        return TypeAdapter(list[self.request_model])  # type: ignore[name-defined]

    @property
    def fast(self) -> bool:
        """Whether predictions are cheap enough to run on the event loop (ONNX)."""
        return self.predictor.runtime == "onnx"

    def predict(self, rows: list[Any]) -> list[float]:
        if self.fast:
            records = [_record(r) for r in rows]
            try:
                return self.predictor.predict_records(records).tolist()
            except Exception as exc:  # onnxruntime failed on valid input: scikit-learn answers
                self.onnx_failures += 1
                log.warning(
                    "ONNX prediction failed (%s: %s); answered with scikit-learn", type(exc).__name__, exc
                )
                if self.fallback is None:
                    raise
                return self.fallback.predict(to_frame(rows, self.columns)).tolist()
        return self.predictor.predict(to_frame(rows, self.columns)).tolist()

    def describe(self) -> dict[str, Any]:
        t = self.target
        return {
            "name": t.name,
            "version": t.version,
            "alias": t.alias,
            "uri": t.uri,
            "training_run_id": t.training_run_id,
            "registry_run_id": t.registry_run_id,
            "source": t.source,
            "loaded_at": self.loaded_at,
            "load_seconds": round(self.load_seconds, 3),
            "runtime": self.predictor.runtime,
            "runtime_reason": self.predictor.reason,
            "onnx_parity": getattr(self.predictor, "parity", None),
            "onnx_failures": self.onnx_failures,
            "signature": self.signature,
        }


class ModelSource:
    """Resolve ``settings.model`` against the workspace registry or artifact store."""

    def __init__(self, settings: ServeSettings) -> None:
        from modelmill.api import open_workspace

        self.spec = parse_model_spec(settings.model)
        self.uri = settings.model
        self.ws = open_workspace(settings.workspace)
        self._tracking_uri = settings.tracking_uri
        self.runtime = settings.runtime
        self.drift_window = settings.drift_window
        self._registry: Any = None

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from modelmill.registry.mlflow_registry import MlflowRegistry

            self._registry = MlflowRegistry.for_workspace(self.ws, self._tracking_uri)
        return self._registry

    @property
    def moves(self) -> bool:
        """Whether the URI names an alias (worth polling) rather than a fixed version."""
        return self.spec["alias"] is not None

    def current(self) -> Target | None:
        """The version the URI points to now, or ``None`` (alias not set yet)."""
        name, alias = str(self.spec["name"]), self.spec["alias"]
        if self.spec["kind"] == "registry":
            rv = (
                self.registry.get_alias(name, alias)
                if alias
                else self.registry.get_version(name, self.spec["version"])
            )
            if rv is None:
                return None
            run_id = None
            if rv.artifact and self.ws.store.exists(rv.artifact):
                run_id = self.ws.store.resolve(rv.artifact).run_id
            return Target(name, str(rv.version), alias, self.uri, run_id, rv.run_id, rv.source)
        if not self.ws.store.exists(self.uri):
            return None
        av = self.ws.store.resolve(self.uri)
        return Target(name, str(av.version), alias, self.uri, av.run_id, None, av.ref)

    def load(self, target: Target) -> LoadedModel:
        """Fetch, load and smoke-test ``target`` (raises on any failure)."""
        from mlflow.models import Model

        from modelmill.registry.predictor import load_predictor, load_sklearn_predictor
        from modelmill.serve.drift import load_feed

        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="modelmill-serve-") as tmp:
            if self.spec["kind"] == "registry":
                # the exact version current() saw, even if the alias moves meanwhile
                path = self.registry.download(f"models:/{target.name}/{target.version}", Path(tmp))
            else:
                path = self.ws.store.path(str(target.source))  # verified, read-only
            meta = Model.load(str(path))
            sklearn = load_sklearn_predictor(path)
            single_threaded(sklearn.pipeline)
            predictor = (
                sklearn if self.runtime == "sklearn" else load_predictor(path, self.runtime, threads=1)
            )
            if predictor.runtime == "sklearn" and self.runtime == "auto":
                sklearn.reason = predictor.reason
                predictor = sklearn
            example = meta.load_input_example(str(path)) if meta.saved_input_example_info else None
            drift, drift_reason = load_feed(path, self.drift_window)  # the reference is in the model dir
        columns = columns_from_signature(meta.signature)
        request_model = build_request_model(columns)
        model = LoadedModel(
            target, predictor, columns, request_model, meta.signature.to_dict(), time.time(), 0.0,
            fallback=sklearn if predictor is not sklearn else None, drift=drift, drift_reason=drift_reason,
        )  # fmt: skip
        rows = [request_model.model_validate(r) for r in example_records(example, columns)]
        smoke_test(model, rows)
        if target.training_run_id is None and getattr(meta, "run_id", None):
            model.target = Target(**{**target.__dict__, "training_run_id": meta.run_id})
        model.load_seconds = time.perf_counter() - started
        return model


def smoke_test(model: LoadedModel, rows: list[Any]) -> None:
    """Predict the input example; with ONNX, also check it agrees with scikit-learn on it."""
    from modelmill.registry.onnx_export import TOLERANCE, relative_difference

    predictions = model.predict(rows)
    if len(predictions) != len(rows) or not all(np.isfinite(predictions)):
        raise ValueError(f"smoke prediction returned {predictions!r} for {len(rows)} example rows")
    if model.fallback is not None:
        reference = model.fallback.predict(to_frame(rows, model.columns))
        worst = float(relative_difference(np.asarray(predictions), reference).max())
        if worst > TOLERANCE:
            raise ValueError(
                f"ONNX and scikit-learn disagree on the input example by {worst:.3g} relative "
                f"(tolerance {TOLERANCE:g}); serve it with --runtime sklearn"
            )


def _record(row: Any) -> dict[str, Any]:
    return row.model_dump(by_alias=True, exclude_unset=True) if hasattr(row, "model_dump") else dict(row)


@dataclass
class ModelHolder:
    """The current model, the last refused version and the swap history of one app."""

    current: LoadedModel | None = None
    last_refused: dict[str, Any] | None = None
    last_error: str | None = None
    swaps: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _refused_keys: set[str] = field(default_factory=set)

    def refresh(self, source: ModelSource, on_event: Any = None) -> str:
        """Load the version the source points to if it is new: ``unchanged``, ``swapped``,
        ``refused``, ``skipped`` (known bad version) or ``missing`` (nothing to load yet)."""
        with self._lock:  # one refresh at a time; readers never take the lock
            try:
                target = source.current()
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error = f"resolving {source.uri}: {exc}"
                log.warning("%s", self.last_error)
                return "missing"
            if target is None:
                self.last_error = f"{source.uri} does not point to a model yet"
                return "missing"
            if self.current is not None and self.current.target.key == target.key:
                return "unchanged"
            if target.key in self._refused_keys:
                return "skipped"
            try:
                loaded = source.load(target)
            except Exception as exc:
                self._refused_keys.add(target.key)
                self.last_refused = {
                    "name": target.name,
                    "version": target.version,
                    "uri": target.uri,
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                    "at": time.time(),
                }
                log.error(
                    "refused %s version %s: %s (still serving %s)",
                    target.name,
                    target.version,
                    exc,
                    self.current.target.key if self.current else "nothing",
                )
                if on_event:
                    on_event("refused", target)
                return "refused"
            before = self.current.target.key if self.current else None
            self.current = loaded  # the atomic swap
            self.swaps += 1
            self.last_error = None
            log.info("serving %s (was %s), loaded in %.2f s", target.key, before, loaded.load_seconds)
            if on_event:
                on_event("swapped", target)
            return "swapped"


def single_threaded(pipeline: Any) -> Any:
    """Set every ``n_jobs`` in the pipeline to 1: requests are a few rows, and a forest's
    ``n_jobs=-1`` starts a thread pool per ``predict`` (48 ms instead of 25 ms for one
    listing with the course's forest on 2 cores); the server's concurrency is per request."""
    jobs = {key: 1 for key in pipeline.get_params(deep=True) if key.endswith("n_jobs")}
    return pipeline.set_params(**jobs) if jobs else pipeline
