"""Save and load fitted scikit-learn pipelines in MLflow format, serialized with skops.

No pickle: the model file is ``model.skops`` and loading trusts only the types listed in
:data:`TRUSTED_TYPES` (recorded in the ``MLmodel`` file). The signature is the dataset
spec's columns (every column but the target: the inputs, the id and the ignored ones, so
a whole row of the table is accepted), typed as the cleaned table holds them
(:func:`spec_signature`), so a row read with ``pandas.read_csv`` predicts as it is:

* every column is ``required=False``: it may be absent (the pipeline's
  ``modelmill.features.EnsureColumns`` turns an absent column into missing values);
* text and date columns (``string``) and decimal columns (``double``) accept
  ``None``/``NaN``; integer columns are ``long`` unless the spec declares them
  ``nullable`` (then ``double``), so a fractional or missing count is refused; yes/no
  columns are ``boolean``, or ``string`` (the words) when nullable or parsed from words.

MLflow is imported inside the functions: ``import mlflow`` costs about 3 s.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

# Types skops must trust to load the pipeline, beyond its built-in safe list; keep in
# sync with modelmill.features (a new custom transformer or model family must be added
# here: tests/unit/test_estimators.py saves and reloads every family). The log1p target
# transform needs nothing: skops trusts numpy's log1p/expm1 ufuncs already.
TRUSTED_TYPES: tuple[str, ...] = (
    "modelmill.features.transformers.AsBoolean",
    "modelmill.features.transformers.AsFloat32",
    "modelmill.features.transformers.CategoryText",
    "modelmill.features.transformers.DaysSince",
    "modelmill.features.transformers.DaysSinceReview",  # models exported before dataset specs
    "modelmill.features.transformers.EnsureColumns",
    "modelmill.features.transformers.TextColumn",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # hist_gradient_boosting
    # HistGradientBoosting with native categories keeps its own encoder, whose input check is
    # partial(check_array, ...): skops still checks the wrapped function against this list
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.tree._tree.Tree",  # random_forest
    # classifiers: calibration fitted on the validation rows (modelmill.features.decision)
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)
# What a serving environment needs; pinned to what trained the model (no slow inference).
REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
# Files written next to MLmodel by the train step (plots, metrics) are kept in this folder.
EXTRAS_DIR = "extras"


def pip_requirements() -> list[str]:
    """``package==version`` for every package in :data:`REQUIREMENTS` that is installed."""
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={importlib_metadata.version(name)}")
        except importlib_metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def column_type(column: Mapping[str, Any]) -> str:
    """The signature type (MLflow ``DataType`` name) of a spec column (``name``, ``kind``,
    ``nullable``, ``parse``), as the cleaned table holds it (see the module docstring)."""
    kind, nullable = column.get("kind"), bool(column.get("nullable"))
    if kind == "integer":
        return "double" if nullable else "long"
    if kind == "float":
        return "double"
    if kind == "boolean":
        return "string" if nullable or column.get("parse") == "boolean" else "boolean"
    return "string"  # string, date


def spec_signature(columns: Sequence[Mapping[str, Any]], predictions: Any) -> Any:
    """A ``ModelSignature`` of the spec's columns, each optional (see the module docstring)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, DataType, Schema, TensorSpec

    inputs: list[ColSpec | TensorSpec] = [
        ColSpec(DataType[column_type(c)], str(c["name"]), required=False) for c in columns
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=infer_signature(None, predictions).outputs)


def nullable_signature(frame: Any, predictions: Any) -> Any:
    """A ``ModelSignature`` inferred from raw input columns where every column is optional and
    nullable (a model saved without its spec's columns)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, DataType, Schema

    with warnings.catch_warnings():  # integer columns are never missing here (see above)
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        inferred = infer_signature(frame, predictions)
    columns: list[Any] = []
    for spec in inferred.inputs.inputs:
        kind = {DataType.integer: DataType.long, DataType.float: DataType.double}.get(spec.type, spec.type)
        columns.append(ColSpec(kind, spec.name, required=False))
    return ModelSignature(inputs=Schema(columns), outputs=inferred.outputs)


def untrusted_types(model: Any) -> list[str]:
    """Types in ``model`` that skops would refuse to load and that we do not trust (diagnostics;
    saving checks this itself: MLflow reloads the file with :data:`TRUSTED_TYPES`)."""
    from skops.io import dumps, get_untrusted_types

    return sorted(set(get_untrusted_types(data=dumps(model))) - set(TRUSTED_TYPES))


def save_sklearn_model(
    model: Any,
    path: Path,
    example: Any,
    *,
    extra_files: Mapping[str, Path] | None = None,
    metadata: Mapping[str, Any] | None = None,
    parity_rows: Any = None,
    columns: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``model`` as an MLflow model directory at ``path`` (which must not exist).

    ``example`` is a frame of raw input rows: its first rows become the input example.
    The signature is ``columns``' (the spec's columns but the target: ``name``, ``kind``,
    ``nullable``, ``parse``; :func:`spec_signature`), inferred from ``example`` when they are
    not given (:func:`nullable_signature`). ``extra_files`` (name -> file) are copied into
    ``path/extras``. With ``parity_rows`` (held-out raw rows), the ONNX fast path is written
    too when its predictions match on them (``path/onnx``, see
    :mod:`modelmill.registry.onnx_export`). Raises ``ValueError`` naming any type skops
    would not trust.
    """
    import mlflow.sklearn

    if columns:
        names = [str(c["name"]) for c in columns]
        head = as_model_input(example.head(5).reindex(columns=names), columns)
        signature = spec_signature(columns, model.predict(head))
    else:
        head = as_model_input(example.head(5))
        signature = nullable_signature(example, model.predict(head))
    with warnings.catch_warnings():
        # mlflow 3.17 compares DataFrame.columns with a range (deprecated in pandas 3): not ours
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        try:
            _save(mlflow.sklearn, model, path, signature, head, metadata)
        except mlflow.exceptions.MlflowException as exc:  # MLflow re-loads with the trusted list
            if "untrusted types" not in str(exc).lower():
                raise
            shutil.rmtree(path, ignore_errors=True)
            raise ValueError(
                f"the model contains types skops does not trust ({exc.__cause__ or exc}); if they are "
                "safe (our own transformers, importable from a module), add them to "
                "modelmill.registry.export.TRUSTED_TYPES"
            ) from None
    if parity_rows is not None:
        from modelmill.registry.onnx_export import export_onnx

        export_onnx(model, parity_rows, path)
    if extra_files:
        extras = path / EXTRAS_DIR
        extras.mkdir(exist_ok=True)
        for name, source in extra_files.items():
            shutil.copyfile(source, extras / name)
    return path


def _save(flavor: Any, model: Any, path: Path, signature: Any, head: Any, metadata: Any) -> None:
    flavor.save_model(
        model,
        path=str(path),
        serialization_format="skops",
        skops_trusted_types=list(TRUSTED_TYPES),
        signature=signature,
        input_example=head,
        pip_requirements=pip_requirements(),
        metadata={"requires": "modelmill (custom transformers in modelmill.features)", **(metadata or {})},
    )


def as_model_input(frame: Any, columns: Any = None) -> Any:
    """A copy of ``frame`` for ``predict``, its columns converted to the signature's types.

    ``columns``: spec columns (see :func:`save_sklearn_model`) or the model's input schema
    (``model.metadata.get_input_schema()``); without them the frame is copied as it is. The
    cleaned table holds what the signature expects but for the type pandas gives a column
    when reading it back (an all-integer text column reads as int64, a yes/no column with
    gaps as objects), which MLflow's schema enforcement would refuse."""
    import pandas as pd

    out = frame.copy()
    for name, kind in _column_types(columns).items():
        if name not in out.columns:
            continue
        values = out[name]
        if kind == "string" and not _all_text(values):
            text = values.astype(object).map(_as_text, na_action="ignore")
            out[name] = text.where(values.notna(), None).astype(object)
        elif kind == "double" and not pd.api.types.is_float_dtype(values.dtype):
            out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
    return out


def _column_types(columns: Any) -> dict[str, str]:
    """Column name -> signature type, from spec columns or an MLflow ``Schema``."""
    if columns is None:
        return {}
    if hasattr(columns, "inputs"):  # an MLflow Schema
        if columns.is_tensor_spec():
            return {}
        return {str(c.name): str(getattr(c.type, "name", c.type)) for c in columns.inputs}
    return {str(c["name"]): column_type(c) for c in columns}


def _all_text(values: Any) -> bool:
    import pandas as pd

    if values.dtype != object:
        return bool(pd.api.types.is_string_dtype(values.dtype))
    present = values.dropna()
    return bool(present.map(lambda v: isinstance(v, str)).all())


def _as_text(value: Any) -> str:
    from modelmill.features.values import category_text

    return category_text(value)


def load_pyfunc(path: str | Path) -> Any:
    """The ``mlflow.pyfunc`` model at ``path`` (schema enforced on predict); read-only dirs work."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path))


def load_sklearn(path: str | Path) -> Any:
    """The fitted scikit-learn pipeline at ``path`` (no schema enforcement)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(path))


def model_metadata(model_dir: str | Path) -> dict[str, Any]:
    """``MLmodel``'s ``metadata`` (what the train step recorded), ``{}`` when it has none or
    cannot be read (the caller then does without)."""
    import yaml

    try:
        doc = yaml.safe_load((Path(model_dir) / "MLmodel").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def model_classes(model_dir: str | Path) -> list[Any] | None:
    """A classifier's labels in the model's order, as the train step recorded them in ``MLmodel``'s
    metadata (``task_classes``); ``None`` for a regression, a model exported before
    classification, or an unreadable ``MLmodel``."""
    return classes_in(model_metadata(model_dir))


def model_id_column(model_dir: str | Path) -> str | None:
    """The id column of the dataset spec the model was trained on (``id_column`` in ``MLmodel``'s
    metadata); ``None`` for a model exported before it was recorded, or a spec without an id."""
    return id_column_in(model_metadata(model_dir))


def classes_in(metadata: Mapping[str, Any]) -> list[Any] | None:
    """:func:`model_classes` of an ``MLmodel`` metadata already read."""
    classes = metadata.get("task_classes")
    return list(classes) if isinstance(classes, list) else None


def id_column_in(metadata: Mapping[str, Any]) -> str | None:
    """:func:`model_id_column` of an ``MLmodel`` metadata already read."""
    column = metadata.get("id_column")
    return column if isinstance(column, str) and column else None
