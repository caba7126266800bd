"""The NYC short-term rental price pipeline.

get_data -> basic_cleaning -> data_check -> data_split -> train -> evaluate -> register.
Each step receives only the config values it depends on, so changing a modeling
parameter re-runs train and what follows, never the data steps. train gets only the
selected model family's keyword arguments (``modeling.<estimator>``), so changing another
family's settings re-runs nothing; its export keeps the course's name for every family.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelmill.core.hashing import sha256_file
from modelmill.features.estimators import check_modeling
from modelmill.features.metrics import lower_is_better
from modelmill.runner import Input, Pipeline, step

S = "modelmill.steps"
MODEL = "random_forest_export"


def _source_params(etl: Any) -> tuple[dict[str, Any], bool]:
    """Params of get_data, and whether it may be cached.

    A local file's digest is part of the params, so an edited file re-runs the step; a
    URL cannot be checked without downloading it, so that step always runs (the store
    deduplicates an unchanged download and everything downstream stays cached).
    """
    sample = str(etl.sample)
    params: dict[str, Any] = {"sample": sample}
    if sample == "demo":
        params.update(demo_rows=int(etl.demo_rows), demo_seed=int(etl.demo_seed))
        return params, True
    if sample.startswith(("http://", "https://")):
        return params, False
    path = Path(os.path.expanduser(sample))
    if path.is_file():
        params["sample"] = str(path.absolute())
        params["sha256"] = sha256_file(path)
    return params, True  # a missing path fails inside the step with a clear message


def _plain(value: Any) -> Any:
    """A config value as plain dicts and lists (JSON-ready params, picklable estimator kwargs)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def train_params(mod: Any) -> dict[str, Any]:
    """The train step's params: the split, the features and the selected family only."""
    family = check_modeling(mod)
    return {
        "val_size": float(mod.val_size), "random_seed": int(mod.random_seed),
        "stratify_by": str(mod.stratify_by), "max_tfidf_features": int(mod.max_tfidf_features),
        "estimator": family, "target_transform": str(mod.get("target_transform", "none")),
        family: _plain(mod[family]),
    }  # fmt: skip


def _date_bounds(dc: Any) -> dict[str, str]:
    """``data_check.min_date``/``max_date`` (YYYY-MM-DD or today), checked now, not after a step ran."""
    from modelmill.core.errors import ConfigError
    from modelmill.validation.checks import default_params
    from modelmill.validation.schema import resolve_date

    defaults = default_params()  # a --config-dir written before these keys existed
    bounds = {key: str(dc.get(key) or defaults[key]) for key in ("min_date", "max_date")}
    for key, value in bounds.items():
        try:
            resolve_date(value)
        except ValueError as exc:
            raise ConfigError(f"data_check.{key}: {exc}") from None
    return bounds


def build_pipeline(cfg: Any) -> Pipeline:
    """The seven steps, wired by artifact names."""
    etl, dc, mod, promo = cfg.etl, cfg.data_check, cfg.modeling, cfg.promotion
    lower_is_better(str(promo.metric))  # an unknown metric fails now, not after training
    bounds = {
        "min_price": float(etl.min_price),
        "max_price": float(etl.max_price),
        "longitude": [float(v) for v in etl.longitude],
        "latitude": [float(v) for v in etl.latitude],
    }
    source, cacheable = _source_params(etl)
    return Pipeline([
        step("get_data", f"{S}.get_data:run", outputs={"sample.csv": "raw_data"},
             params=source, cache=cacheable),
        step("basic_cleaning", f"{S}.basic_cleaning:run", inputs=["sample.csv"],
             outputs={"clean_sample.csv": "clean_sample"}, params=bounds),
        step("data_check", f"{S}.data_check:run",
             inputs=["clean_sample.csv",
                     Input("clean_sample.csv:reference", external=True, optional=True)],
             outputs={"data_check_report": "data_check_report"},
             params={**bounds, "kl_threshold": float(dc.kl_threshold), "ks_alpha": float(dc.ks_alpha),
                     "min_rows": int(dc.min_rows), "max_rows": int(dc.max_rows),
                     **_date_bounds(dc)}),
        step("data_split", f"{S}.data_split:run", inputs=["clean_sample.csv", "data_check_report"],
             outputs={"trainval_data.csv": "trainval_data", "test_data.csv": "test_data"},
             params={"test_size": float(mod.test_size), "random_seed": int(mod.random_seed),
                     "stratify_by": str(mod.stratify_by)}),
        step("train", f"{S}.train:run", inputs=["trainval_data.csv"],
             outputs={MODEL: "model_export"}, params=train_params(mod)),
        step("evaluate", f"{S}.evaluate:run",
             inputs=[MODEL, "test_data.csv", Input(f"{MODEL}:prod", external=True, optional=True)],
             outputs={"evaluation": "evaluation", "evaluation_report.html": "evaluation_report"}),
        step("register", f"{S}.register:run", inputs=["evaluation", MODEL],
             outputs={"promotion": "promotion"},
             params={"model_name": str(cfg.main.model_name), "metric": str(promo.metric),
                     "min_improvement": float(promo.min_improvement),
                     "experiment_name": str(cfg.main.experiment_name),
                     "tracking_uri": cfg.main.tracking_uri}),
    ])  # fmt: skip
