"""Find the model to score with and read its input signature (from ``MLmodel``, no mlflow import).

``--model`` accepts three forms:

* ``models:/NAME@ALIAS`` (or ``models:/NAME/VERSION``): the workspace's MLflow registry
  (``sqlite:///<workspace>/mlflow.db``) unless ``tracking_uri`` names another;
* a directory holding an ``MLmodel`` file;
* an artifact reference ``NAME[:vN|:ALIAS]`` in the workspace's store.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelmill.core.errors import ArtifactNotFoundError, ModelmillError, UsageError
from modelmill.store.workspace import Workspace

# Signature types the validator knows how to check; anything else is passed through as read.
INTEGER_TYPES = ("long", "integer")
FLOAT_TYPES = ("double", "float")
TEXT_TYPES = ("string",)


class ModelLoadError(UsageError):
    """The model could not be found or read."""


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of the model signature."""

    name: str
    type: str
    required: bool = False


@dataclass
class LoadedModel:
    """A fitted scikit-learn pipeline, where it came from and what input it expects."""

    label: str  # what the user asked for, resolved (store ref, path or models:/ URI)
    path: Path  # local MLflow model directory
    identity: str  # model_uuid (or path): a resumed job must use the same model
    columns: list[ColumnSpec]
    estimator: Any = None


def read_signature(model_dir: Path) -> tuple[list[ColumnSpec], str]:
    """The column specs of ``model_dir/MLmodel`` and the model's uuid."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadError(f"{model_dir} is not an MLflow model directory (no MLmodel file)")
    doc = yaml.safe_load(mlmodel.read_text()) or {}
    signature = doc.get("signature") or {}
    if not signature.get("inputs"):
        raise ModelLoadError(
            f"model {model_dir} has no input signature: batch scoring validates rows against it; "
            "export the model with modelmill's train step (it records one)"
        )
    specs = json.loads(signature["inputs"])
    columns = []
    for spec in specs:
        if "name" not in spec:
            raise ModelLoadError(
                f"model {model_dir} has a tensor signature; batch scoring needs named columns"
            )
        columns.append(
            ColumnSpec(spec["name"], str(spec.get("type", "string")), bool(spec.get("required", True)))
        )
    return columns, str(doc.get("model_uuid") or model_dir)


def _registry_path(uri: str, ws: Workspace, tracking_uri: str | None) -> Path:
    from modelmill.registry.mlflow_registry import MlflowRegistry
    from modelmill.tracking.mlflow_tracker import quiet_mlflow

    quiet_mlflow()
    registry = MlflowRegistry.for_workspace(ws, tracking_uri)
    try:  # a temporary copy for this job, like MLflow's own download
        return registry.download(uri, Path(tempfile.mkdtemp(prefix="modelmill-score-model-")))
    except UsageError as exc:
        raise ModelLoadError(
            f"cannot resolve '{uri}' ({exc}); promote a model first "
            "(modelmill promote random_forest_export:vN) or pass --model NAME:vN / a model directory"
        ) from None


def locate_model(model: str, ws: Workspace, tracking_uri: str | None = None) -> LoadedModel:
    """Resolve ``model`` to a local model directory and its signature (does not load it yet)."""
    if model.startswith("models:/"):
        path, label = _registry_path(model, ws, tracking_uri), model
    elif Path(model).is_dir():
        path, label = Path(model), str(model)
    else:
        try:
            version = ws.store.resolve(model)
        except ModelmillError as exc:
            if isinstance(exc, (ArtifactNotFoundError, UsageError)):
                raise ModelLoadError(
                    f"no model '{model}': {exc}. Pass --model models:/NAME@ALIAS, NAME[:vN|:ALIAS] "
                    "from the store (modelmill artifacts list) or a model directory"
                ) from None
            raise
        path, label = ws.store.path(version), version.ref
    columns, identity = read_signature(path)
    return LoadedModel(label=label, path=path, identity=identity, columns=columns)


def load_estimator(model: LoadedModel, runtime: str = "auto", threads: int | None = None) -> Any:
    """Load the model once: onnxruntime when its ONNX graph passed parity at export, else the
    scikit-learn pipeline (``runtime``: ``auto``, ``onnx`` or ``sklearn``; see
    ``modelmill.registry.predictor``). The result has ``predict(frame) -> array``, ``runtime``
    and ``reason`` (why not ONNX)."""
    from modelmill.registry.predictor import load_predictor

    try:
        model.estimator = load_predictor(model.path, runtime, threads)
    except UsageError:
        raise
    except Exception as exc:  # any failure here means an unreadable model
        raise ModelLoadError(
            f"cannot load the model at {model.path} ({type(exc).__name__}: {exc}); "
            "re-export it with the train step or pick another --model"
        ) from None
    return model.estimator
