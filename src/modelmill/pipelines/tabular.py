"""The tabular pipeline: any table declared by a dataset spec, from raw file to ``prod``.

get_data -> basic_cleaning -> data_check -> data_split -> train -> evaluate -> register.
Nothing here names a column: the spec (:mod:`modelmill.datasets.spec`) says what each column
is, and each step receives only the part of the spec and of the config it depends on, so
changing a modeling parameter re-runs train and what follows, never the data steps; train
gets only the selected model family's keyword arguments (``modeling.<estimator>``), so
changing another family's settings re-runs nothing. Every step declares its role, which is
how sweep, retrain, reproduce and test find the step that trains, checks or promotes.

The names a project sees come from its config: the model artifact (``main.model_artifact``),
the registered model (``main.model_name``) and the MLflow experiment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from modelmill.core.errors import ConfigError
from modelmill.core.hashing import sha256_file
from modelmill.datasets.spec import DatasetSpec, spec_from_config
from modelmill.features.decision import Decision
from modelmill.features.estimators import check_modeling
from modelmill.runner import Input, Pipeline, step
from modelmill.tasks import Task, get_task

S = "modelmill.steps"
SAMPLE, CLEAN, REPORT = "sample.csv", "clean_sample.csv", "data_check_report"
TRAINVAL, TEST = "trainval_data.csv", "test_data.csv"


def _source_params(etl: Any, spec: DatasetSpec) -> tuple[dict[str, Any], bool]:
    """Params of get_data, and whether it may be cached.

    A local file's digest is part of the params, so an edited file re-runs the step; a
    URL cannot be checked without downloading it, so that step always runs (the store
    deduplicates an unchanged download and everything downstream stays cached). ``demo``
    is the spec's own generator (``dataset.demo``), when it has one.
    """
    sample = str(etl.sample)
    params: dict[str, Any] = {"sample": sample}
    if sample == "demo":
        if not spec.demo:
            raise ConfigError(
                f"etl.sample=demo: dataset '{spec.name}' has no demo generator (dataset.demo); "
                "set etl.sample to your table (a CSV/Parquet path or an http(s) URL)"
            )
        params.update(demo=spec.demo, demo_rows=int(etl.demo_rows), demo_seed=int(etl.demo_seed))
        return params, True
    if sample.startswith(("http://", "https://")):
        return params, False
    path = Path(os.path.expanduser(sample))
    if path.is_file():
        params["sample"] = str(path.absolute())
        params["sha256"] = sha256_file(path)
    return params, True  # a missing path fails inside the step with a clear message


def plain(value: Any) -> Any:
    """A config value as plain dicts and lists (JSON-ready params, picklable estimator kwargs)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def train_params(mod: Any, spec: DatasetSpec) -> dict[str, Any]:
    """The train step's params: the features, the validation split and the selected family only."""
    family = check_modeling(mod)
    split = spec.split_params()
    params = {
        **spec.features_params(),
        "val_size": split["val_size"], "random_seed": split["seed"], "stratify_by": split["stratify"],
        "split": split, "estimator": family, "target_transform": str(mod.get("target_transform", "none")),
        family: plain(mod[family]),
    }  # fmt: skip
    if get_task(spec.task).is_classifier:  # a regression's params (and cache keys) stay as they were
        decision = Decision.from_config(plain(mod.get("decision")))
        params |= {"class_weight": mod.get("class_weight"), "decision": asdict(decision)}
        if params["target_transform"] != "none":
            raise ConfigError(f"modeling.target_transform={params['target_transform']}: a target "
                              f"transform is for regression; task {spec.task} needs none")  # fmt: skip
    return params


def promotion_metric(cfg: Any, task: Task) -> str:
    """``promotion.metric`` (default: the task's), checked against the task's metrics now."""
    metric = cfg.promotion.get("metric") or task.default_metric
    task.metric(str(metric))  # an unknown metric fails now, not after training
    return str(metric)


def build_pipeline(cfg: Any) -> Pipeline:
    """The seven steps for the table ``cfg.dataset`` declares, wired by artifact names."""
    spec = spec_from_config(cfg)
    task = get_task(spec.task)
    model = str(cfg.main.model_artifact)
    source, cacheable = _source_params(cfg.etl, spec)
    # the types as read, before anything is stored (not the ranges: cleaning applies them, so
    # changing etl.min_price re-runs cleaning, never the ingest step)
    source["columns"] = [
        {k: v for k, v in c.items() if k != "range"} for c in spec.cleaning_params()["columns"]
    ]
    source["extra_columns"] = spec.cleaning.extra_columns
    source["id"] = spec.id  # names the offending rows of a failed type test
    return Pipeline([
        step("get_data", f"{S}.get_data:run", outputs={SAMPLE: "raw_data"}, params=source,
             cache=cacheable, role="ingest"),
        step("basic_cleaning", f"{S}.basic_cleaning:run", inputs=[SAMPLE],
             outputs={CLEAN: "clean_sample"}, params=spec.cleaning_params(), role="clean"),
        step("data_check", f"{S}.data_check:run",
             inputs=[CLEAN, Input(f"{CLEAN}:reference", external=True, optional=True)],
             outputs={REPORT: "data_check_report"}, params=spec.data_check_params(cfg.data_check),
             role="check"),
        step("data_split", f"{S}.data_split:run", inputs=[CLEAN, REPORT],
             outputs={TRAINVAL: "trainval_data", TEST: "test_data"}, params=spec.split_params(),
             role="split"),
        step("train", f"{S}.train:run", inputs=[TRAINVAL], outputs={model: "model_export"},
             params={**train_params(cfg.modeling, spec), "model": model}, role="train"),
        step("evaluate", f"{S}.evaluate:run",
             inputs=[model, TEST, Input(f"{model}:prod", external=True, optional=True)],
             outputs={"evaluation": "evaluation", "evaluation_report.html": "evaluation_report"},
             params={"model": model, "task": spec.task, "target": spec.target, "group": spec.group},
             role="evaluate"),
        step("register", f"{S}.register:run", inputs=["evaluation", model],
             outputs={"promotion": "promotion"},
             params={"model": model, "model_name": str(cfg.main.model_name), "task": spec.task,
                     "metric": promotion_metric(cfg, task),
                     "min_improvement": float(cfg.promotion.min_improvement),
                     "experiment_name": str(cfg.main.experiment_name),
                     "tracking_uri": cfg.main.tracking_uri},
             role="promote"),
    ])  # fmt: skip
