"""One monitoring pass: read a batch, predict if needed, compare with the reference, judge quality.

Used by ``modelmill monitor``; the result is what the CLI prints, writes as HTML and logs to
MLflow (a run named ``monitor`` in ``main.experiment_name``, like ``modelmill eda``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from modelmill.core.errors import ConfigError, UsageError
from modelmill.monitor.html import drift_page
from modelmill.monitor.inputs import MonitoredModel, baseline, read_batch, resolve_model
from modelmill.monitor.outputs import TIME_COLUMNS, ModelOutputs, outputs_for
from modelmill.monitor.quality import Quality, Truth, model_quality, read_actuals
from modelmill.reports.layout import Report
from modelmill.validation.drift import DriftReport, Thresholds, compare, missing_columns


@dataclass
class MonitorResult:
    """Everything one ``modelmill monitor`` call found."""

    model: MonitoredModel
    source: str
    drift: DriftReport
    page: Report
    prediction_source: str
    quality: Quality | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.label,
            "model_path": str(self.model.path),
            "input": self.source,
            "predictions": self.prediction_source,
            **self.drift.to_dict(),
            "quality": None if self.quality is None else self.quality.to_dict(),
        }


def thresholds(
    overrides: dict[str, Any] | None = None, configured: dict[str, Any] | None = None
) -> Thresholds:
    """``configured`` (the project's ``monitoring`` section; default: the config's), then the
    non-``None`` ``overrides``."""
    if configured is None:
        from modelmill.projects.defaults import project_defaults

        configured = project_defaults().section("monitoring")
    values = {str(k): v for k, v in configured.items()}
    values |= {k: v for k, v in (overrides or {}).items() if v is not None}
    return Thresholds.from_mapping(values)


def truth_of(defaults: Any) -> Truth:
    """What actuals hold for a project (:class:`~modelmill.projects.defaults.ProjectDefaults`)."""
    return Truth(defaults.task.kind, defaults.target or "actual", defaults.id_column, defaults.metric)


def model_outputs(batch: pd.DataFrame, model: MonitoredModel, target: str | None = None) -> ModelOutputs:
    """The batch's ``prediction`` (and a classifier's ``proba_<class>``) columns when it has them
    (a request log, a scored file), else the model's outputs (on the batch without its
    ``target`` column, when it has one)."""

    def load() -> Any:
        from modelmill.registry.predictor import load_predictor

        return load_predictor(model.path)

    return outputs_for(batch, model.reference, load, target)


def run_monitor(
    source: str,
    model_uri: str,
    ws: Any,
    limits: Thresholds,
    *,
    actuals: str | None = None,
    time_col: str | None = None,
    tracking_uri: str | None = None,
    truth: Truth | None = None,
) -> MonitorResult:
    """Compare ``source`` with the reference of ``model_uri`` (and its ``actuals``, when given:
    ``truth`` says what they hold; default: a regression target named ``actual``)."""
    batch = read_batch(source)
    with resolve_model(model_uri, ws, tracking_uri) as model:  # a registry download is removed at the end
        return _monitor(batch, source, model, ws, limits, actuals, time_col, truth or Truth())


def _monitor(
    batch: pd.DataFrame, source: str, model: MonitoredModel, ws: Any, limits: Thresholds,
    actuals: str | None, time_col: str | None, truth: Truth,
) -> MonitorResult:  # fmt: skip
    absent = missing_columns(model.reference, batch)
    if absent:
        raise UsageError(f"input {source} lacks columns the model's reference has: {', '.join(absent)}")
    outputs = model_outputs(batch, model, truth.target)
    predictions, origin, probabilities = outputs.values, outputs.origin, outputs.probabilities
    drift = compare(model.reference, batch, predictions, limits, probabilities)
    quality = None
    if actuals is not None:
        if time_col is None:
            time_col = next((c for c in TIME_COLUMNS if c in batch.columns), None)
        known = read_actuals(actuals, truth)
        quality = model_quality(
            batch, predictions, known, lambda metric: baseline(model, ws, metric), truth, time_col,
            proba=outputs.proba, classes=outputs.classes,
        )  # fmt: skip
    where = model.store_ref or (model.label if model.downloaded else str(model.path))
    context = {"model": model.label, "model path": where, "input": source, "predictions": origin}
    page = drift_page(drift, model.reference, batch, predictions, context, quality, probabilities)
    return MonitorResult(model, source, drift, page, origin, quality)


def _metric_name(name: str) -> str:
    """``name`` with the characters MLflow refuses in a metric name (a class label's ``<``,
    ``>``, ``=``, ...) as ``_``."""
    return re.sub(r"[^\w./\- :]", "_", name)


def log_mlflow(
    result: MonitorResult, ws: Any, tracking_uri: str | None, experiment: str | None = None
) -> str:
    """Log the verdicts, PSIs and the page to a new MLflow run in ``experiment`` (default: the
    config's ``main.experiment_name``); its id."""
    from modelmill.tracking.groups import GroupRun

    if experiment is None or tracking_uri is None:
        from modelmill.projects.defaults import project_defaults

        defaults = project_defaults()
        experiment = experiment or defaults.experiment_name
        tracking_uri = tracking_uri or defaults.tracking_uri
    uri = tracking_uri or ws.default_tracking_uri
    group = GroupRun(uri, experiment, ws.mlflow_artifact_root)
    tags = {
        "modelmill.kind": "monitor",
        "modelmill.model": result.model.label,
        "modelmill.verdict": result.drift.verdict,
    }
    try:
        run_id = group.start("monitor", {"input": result.source, "model": result.model.label}, tags)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (modelmill monitor: pass --no-tracking to skip MLflow)") from None
    metrics = {_metric_name(f"psi_{f.feature}"): f.psi for f in result.drift.features if f.psi is not None}
    metrics |= {
        "n_rows": result.drift.n_rows,
        "n_drift": sum(f.verdict == "drift" for f in result.drift.features),
    }
    if result.quality is not None:
        metrics |= result.quality.metrics
    group.finish(
        True, {k: float(v) for k, v in metrics.items()}, {}, {"monitor/drift_report.html": result.page.html}
    )
    return run_id
