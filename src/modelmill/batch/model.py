"""Find the model to score with and read its input signature (from ``MLmodel``, no mlflow import).

``--model`` is resolved by :mod:`modelmill.registry.references` (the one resolver every
command uses): ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION`` from the registry (a
temporary, verified download), a store reference ``NAME[:vN|:ALIAS]`` or a model directory.
A :class:`LoadedModel` owns a registry download: use it in a ``with`` block (or ``close()``
it) so no copy is left behind, whatever happens to the job.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from modelmill.core.errors import UsageError
from modelmill.registry.export import classes_in, id_column_in
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
    classes: list[Any] | None = None  # a classifier's labels (MLmodel metadata ``task_classes``)
    id_column: str | None = None  # its dataset spec's id column (MLmodel metadata ``id_column``)
    files: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def close(self) -> None:
        """Remove the registry download, if ``path`` is one (idempotent)."""
        self.files.close()

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_signature(model_dir: Path) -> tuple[list[ColumnSpec], str, dict[str, Any]]:
    """The column specs of ``model_dir/MLmodel``, the model's uuid and its metadata (read once)."""
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
    metadata = doc.get("metadata")
    return columns, str(doc.get("model_uuid") or model_dir), metadata if isinstance(metadata, dict) else {}


def locate_model(model: str, ws: Workspace, tracking_uri: str | None = None) -> LoadedModel:
    """Resolve ``model`` to a local, verified model directory and its signature (does not load
    it yet). A ``models:/`` download lasts until the result is closed."""
    from modelmill.registry.references import open_model

    files = contextlib.ExitStack()
    try:
        local = files.enter_context(open_model(model, ws, tracking_uri))
        columns, identity, metadata = read_signature(local.path)
        classes, id_column = classes_in(metadata), id_column_in(metadata)
    except BaseException:
        files.close()
        raise
    return LoadedModel(label=local.label, path=local.path, identity=identity, columns=columns,
                       classes=classes, id_column=id_column, files=files)  # fmt: skip


def load_estimator(model: LoadedModel, runtime: str = "auto", threads: int | None = None) -> Any:
    """Load the model once: onnxruntime when its ONNX graph passed parity at export, else the
    scikit-learn pipeline (``runtime``: ``auto``, ``onnx`` or ``sklearn``; see
    ``modelmill.registry.predictor``). The result has ``predict(frame) -> array``, ``runtime``
    and ``reason`` (why not ONNX)."""
    from modelmill.registry.checks import why
    from modelmill.registry.predictor import load_predictor

    try:
        model.estimator = load_predictor(model.path, runtime, threads)
    except UsageError:
        raise
    except Exception as exc:  # any failure here means an unreadable model
        raise ModelLoadError(
            f"cannot load the model {model.label} ({why(exc)}); "
            "re-export it with the train step or pick another --model"
        ) from None
    return model.estimator
