"""What ``modelmill monitor`` reads: the model (directory, reference, baseline score) and the batch.

``--model`` is resolved by :mod:`modelmill.registry.references`, like every command's:
``models:/NAME@ALIAS`` through the workspace's MLflow registry (a temporary, verified
download), a model directory, or a store reference ``NAME[:vN|:ALIAS]``.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import yaml

from modelmill.core.errors import ModelmillError, UsageError
from modelmill.monitor.live import reference_path
from modelmill.validation.reference import read_reference

PARQUET = (".parquet", ".pq")


@dataclass
class MonitoredModel:
    """A local model directory, what the user called it and its reference; close it (or use
    it in a ``with`` block) to remove a registry download."""

    label: str
    path: Path
    reference: dict[str, Any]
    store_ref: str | None = None
    downloaded: bool = False  # ``path`` is a temporary registry download
    files: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def close(self) -> None:
        self.files.close()

    def __enter__(self) -> MonitoredModel:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def resolve_model(model: str, ws: Any, tracking_uri: str | None = None) -> MonitoredModel:
    """The model directory for ``model``; a :class:`UsageError` (exit 2) when it has no reference."""
    from modelmill.registry.references import open_model

    files = contextlib.ExitStack()
    try:
        local = files.enter_context(open_model(model, ws, tracking_uri))
        return MonitoredModel(model, local.path, _reference_of(model, local.path), local.resolved.store_ref,
                              local.downloaded, files)  # fmt: skip
    except BaseException:
        files.close()
        raise


def _reference_of(model: str, path: Path) -> dict[str, Any]:
    if not (path / "MLmodel").is_file():
        raise UsageError(f"{model} is not an MLflow model directory (no MLmodel file at {path})")
    if not reference_path(path).is_file():
        raise UsageError(
            f"model {model} has no drift reference (extras/reference.json): it was trained before "
            "monitoring existed; retrain it with this version of modelmill (modelmill run)"
        )
    return read_reference(reference_path(path))


def baseline(model: MonitoredModel, ws: Any, metric: str = "mae") -> tuple[float | None, str]:
    """The model's own score on ``metric`` and where it was found.

    First the ``evaluation`` artifact whose candidate is this model (``test_<metric>`` in its
    metadata, written by the evaluate step); else the validation score recorded in ``MLmodel``
    metadata or ``extras/metrics.json`` by the train step (``val_<metric>``), named as such.
    """
    test, val = f"test_{metric}", f"val_{metric}"
    if model.store_ref is not None:
        try:
            evaluations = ws.store.versions("evaluation")
        except ModelmillError:
            evaluations = []
        for version in reversed(evaluations):
            meta = version.metadata or {}
            if meta.get("candidate") == model.store_ref and meta.get(test) is not None:
                return float(meta[test]), f"{test} of {version.ref} (evaluate step)"
    doc = yaml.safe_load((model.path / "MLmodel").read_text()) or {}
    value = (doc.get("metadata") or {}).get(val)
    if value is not None:
        return float(value), f"{val} in MLmodel metadata (validation score: no evaluation found)"
    metrics = model.path / "extras" / "metrics.json"
    if metrics.is_file():
        value = json.loads(metrics.read_text()).get("metrics", {}).get(val)
        if value is not None:
            return float(value), f"{val} in extras/metrics.json"
    return None, "not recorded"


def _read_one(path: str, name: str) -> pd.DataFrame:
    if name.endswith(PARQUET):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _read_part(path: Path) -> pd.DataFrame | None:
    """One part of a directory; ``None`` when it vanished (a live request log rolls over)."""
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        return None


def served_rows(log: pd.DataFrame) -> pd.DataFrame:
    """A request log without its shadow rows: copies a challenger predicted, no client saw."""
    if "role" not in log.columns:
        return log
    return log[log["role"].fillna("champion") != "shadow"].reset_index(drop=True)


def read_batch(source: str, *, shadow: bool = False) -> pd.DataFrame:
    """A CSV/Parquet file, a directory of Parquet files (a request log: its shadow rows only
    with ``shadow``) or an fsspec URL."""
    local = Path(source)
    try:
        if "://" not in source and not local.exists():
            raise UsageError(f"input {source} does not exist")
        if local.is_dir():
            files = sorted(local.rglob("*.parquet")) + sorted(local.rglob("*.pq"))
            if not files:
                raise UsageError(f"input directory {source} holds no Parquet files")
            parts = [part for part in map(_read_part, files) if part is not None]
            if not parts:
                raise UsageError(f"input directory {source} holds no readable Parquet files")
            log = pd.concat(parts, ignore_index=True)
            return log if shadow else served_rows(log)
        return _read_one(source, source.lower())
    except UsageError:
        raise
    except (OSError, ValueError, ImportError) as exc:
        raise UsageError(f"input {source} could not be read as a table: {exc}") from None
