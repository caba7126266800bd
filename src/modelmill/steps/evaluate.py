"""evaluate: score the candidate model, and the ``prod`` one if there is one, on the test set.

Both are loaded as MLflow pyfunc models straight from the (read-only) store, so the test
goes through the same schema enforcement a served request does. A prod model that can
no longer be loaded or scored is reported with ``"error"`` and null metrics (the
promotion gate then treats it as having no score) instead of failing the step.
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


def score(model_dir: Path, features: Any, target: Any) -> dict[str, float]:
    """MAE, RMSE, R2 and median absolute error of the MLflow model at ``model_dir``."""
    import numpy as np

    from modelmill.registry.export import as_model_input, load_pyfunc

    predicted = np.asarray(load_pyfunc(model_dir).predict(as_model_input(features)), dtype=float)
    return regression_metrics(target, predicted)


def _score_prod(ctx: StepContext, features: Any, target: Any) -> dict[str, Any] | None:
    if not ctx.has_input(PROD):
        return None
    version = ctx.input_version(PROD)
    ref = version.ref if version is not None else PROD
    try:
        return {"ref": ref, **score(ctx.input(PROD), features, target)}
    except Exception as exc:  # an old prod model must not block evaluating the candidate
        ctx.log.warning("prod model %s could not be evaluated: %s", ref, exc)
        return {"ref": ref, **dict.fromkeys(METRICS), "error": f"{type(exc).__name__}: {exc}"[:2000]}


def run(ctx: StepContext) -> None:
    """Write ``evaluation`` (JSON); log ``test_{mae,rmse,r2,medae}`` and ``prod_test_*``."""
    test = read_listings(ctx.input(TEST))
    if TARGET not in test.columns:
        from modelmill.core.errors import ConfigError

        raise ConfigError(f"{TEST} has no '{TARGET}' column; columns: {list(test.columns)}")
    features, target = test.drop(columns=[TARGET]), test[TARGET].astype(float)
    candidate_version = ctx.input_version(MODEL)
    test_version = ctx.input_version(TEST)
    candidate: dict[str, Any] = {
        "ref": candidate_version.ref if candidate_version is not None else MODEL,
        **score(ctx.input(MODEL), features, target),
    }
    prod_version = ctx.input_version(PROD)
    prod: dict[str, Any] | None
    if prod_version is not None and prod_version.digest == getattr(candidate_version, "digest", None):
        prod = {**candidate, "ref": prod_version.ref}  # the same model: no second load and scoring
    else:
        prod = _score_prod(ctx, features, target)
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
