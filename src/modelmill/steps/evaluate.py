"""evaluate: score the candidate model, and the ``prod`` one if there is one, on the test set.

Both are loaded as MLflow pyfunc models straight from the (read-only) store, so the test
goes through the same schema enforcement a served request does. A prod model that can
no longer be loaded or scored is reported with ``"error"`` and null metrics (the
promotion gate then treats it as having no score) instead of failing the step.

When the pipeline declares the output ``evaluation_report.html`` (the NYC pipeline does), the
step also writes the HTML evaluation report: metrics side by side with deltas and MAE per
``neighbourhood_group`` (see :mod:`modelmill.reports.evaluation`); the promotion verdict is
the register step's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmill.datasets.io import read_listings
from modelmill.features.metrics import METRICS, regression_metrics
from modelmill.features.pipeline import TARGET

if TYPE_CHECKING:
    from modelmill.runner import StepContext

MODEL = "random_forest_export"
PROD = f"{MODEL}:prod"
TEST = "test_data.csv"
REPORT = "evaluation_report.html"
GROUP = "neighbourhood_group"


def predict(model_dir: Path, features: Any) -> Any:
    """Predictions of the MLflow model at ``model_dir`` (through its schema enforcement)."""
    import numpy as np

    from modelmill.registry.export import as_model_input, load_pyfunc

    return np.asarray(load_pyfunc(model_dir).predict(as_model_input(features)), dtype=float)


def score(model_dir: Path, features: Any, target: Any) -> dict[str, float]:
    """MAE, RMSE, R2 and median absolute error of the MLflow model at ``model_dir``."""
    return regression_metrics(target, predict(model_dir, features))


def _score_prod(ctx: StepContext, features: Any, target: Any) -> tuple[dict[str, Any] | None, Any]:
    """The prod model's scores and predictions (``None`` when there is none or it failed)."""
    if not ctx.has_input(PROD):
        return None, None
    version = ctx.input_version(PROD)
    ref = version.ref if version is not None else PROD
    try:
        predicted = predict(ctx.input(PROD), features)
        return {"ref": ref, **regression_metrics(target, predicted)}, predicted
    except Exception as exc:  # an old prod model must not block evaluating the candidate
        ctx.log.warning("prod model %s could not be evaluated: %s", ref, exc)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return {"ref": ref, **dict.fromkeys(METRICS), "error": error}, None


def _write_report(ctx: StepContext, evaluation: dict[str, Any], groups: Any, target: Any,
                  predictions: tuple[Any, Any]) -> None:  # fmt: skip
    """``evaluation_report.html`` when the pipeline declares it (older definitions do not)."""
    from modelmill.reports import evaluation_report, group_metrics

    try:
        path = ctx.output(REPORT)
    except KeyError:
        return
    by_group = None
    if groups is not None:
        cand, prod = (group_metrics(target, p, groups) if p is not None else {} for p in predictions)
        by_group = {g: {"candidate": m, "prod": prod.get(g)} for g, m in cand.items()}
    context = {"test_data": evaluation["test_data"], "test rows": evaluation["n_test"],
               "verdict": "decided by the register step (promotion gate)"}  # fmt: skip
    report = evaluation_report(evaluation["candidate"], evaluation["prod"], by_group=by_group,
                               group_label=GROUP, context=context)  # fmt: skip
    ctx.log_artifact(report.save(path))
    ctx.set_metadata(REPORT, candidate=evaluation["candidate"]["ref"],
                     prod=evaluation["prod"]["ref"] if evaluation["prod"] else None)  # fmt: skip


def run(ctx: StepContext) -> None:
    """Write ``evaluation`` (JSON); log ``test_{mae,rmse,r2,medae}`` and ``prod_test_*``."""
    test = read_listings(ctx.input(TEST))
    if TARGET not in test.columns:
        from modelmill.core.errors import ConfigError

        raise ConfigError(f"{TEST} has no '{TARGET}' column; columns: {list(test.columns)}")
    features, target = test.drop(columns=[TARGET]), test[TARGET].astype(float)
    candidate_version = ctx.input_version(MODEL)
    test_version = ctx.input_version(TEST)
    cand_pred = predict(ctx.input(MODEL), features)
    candidate: dict[str, Any] = {
        "ref": candidate_version.ref if candidate_version is not None else MODEL,
        **regression_metrics(target, cand_pred),
    }
    prod_version = ctx.input_version(PROD)
    prod: dict[str, Any] | None
    if prod_version is not None and prod_version.digest == getattr(candidate_version, "digest", None):
        prod, prod_pred = {**candidate, "ref": prod_version.ref}, cand_pred  # the same model: no rescoring
    else:
        prod, prod_pred = _score_prod(ctx, features, target)
    metrics = {f"test_{k}": candidate[k] for k in METRICS}
    if prod is not None and prod["mae"] is not None:
        metrics |= {f"prod_test_{k}": prod[k] for k in METRICS if prod.get(k) is not None}
    ctx.log_metrics(metrics)
    ctx.log.info(
        "candidate %s: test MAE %.2f, R2 %.3f%s", candidate["ref"], candidate["mae"], candidate["r2"],
        f"; prod {prod['ref']}: MAE {prod['mae']}" if prod else "; no prod model",
    )  # fmt: skip
    evaluation = {
        "candidate": candidate,
        "prod": prod,
        "test_data": test_version.ref if test_version is not None else TEST,
        "n_test": len(test),
    }
    ctx.output("evaluation").write_text(json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
    ctx.set_metadata(
        "evaluation",
        candidate=candidate["ref"],
        prod=prod["ref"] if prod else None,
        **{f"test_{k}": candidate[k] for k in METRICS},
        n_test=len(test),
    )
    groups = features[GROUP] if GROUP in features.columns else None
    _write_report(ctx, evaluation, groups, target, (cand_pred, prod_pred))
