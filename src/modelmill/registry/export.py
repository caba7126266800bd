"""Save and load fitted scikit-learn pipelines in MLflow format, serialized with skops.

No pickle: the model file is ``model.skops`` and loading trusts only the types listed in
:data:`TRUSTED_TYPES` (recorded in the ``MLmodel`` file). The signature keeps the types
of the raw listing columns, so a row read with ``pandas.read_csv`` predicts as it is:

* every column is ``required=False``: it may be absent (the pipeline's
  ``modelmill.features.EnsureColumns`` turns an absent column into missing values);
* text columns (``string``) and decimal columns (``double``) accept ``None``/``NaN``:
  these are the nullable ones (``name``, ``host_name``, ``last_review``,
  ``reviews_per_month``, ...); integer columns (ids, counts) are never missing in
  listings and stay ``long``, so a fractional or missing count is refused.

MLflow is imported inside the functions: ``import mlflow`` costs about 3 s.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

# Types skops must trust to load the pipeline, beyond its built-in safe list; keep in
# sync with modelmill.features (a new custom transformer or model family must be added
# here: tests/unit/test_estimators.py saves and reloads every family). The log1p target
# transform needs nothing: skops trusts numpy's log1p/expm1 ufuncs already.
TRUSTED_TYPES: tuple[str, ...] = (
    "modelmill.features.transformers.AsFloat32",
    "modelmill.features.transformers.DaysSinceReview",
    "modelmill.features.transformers.EnsureColumns",
    "modelmill.features.transformers.TextColumn",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # hist_gradient_boosting
    "sklearn.tree._tree.Tree",  # random_forest
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


def nullable_signature(frame: Any, predictions: Any) -> Any:
    """A ``ModelSignature`` from raw input columns where every column is optional and nullable."""
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
) -> Path:
    """Write ``model`` as an MLflow model directory at ``path`` (which must not exist).

    ``example`` is a frame of raw input rows: the signature is inferred from it and its
    first rows become the input example. ``extra_files`` (name -> file) are copied into
    ``path/extras``. With ``parity_rows`` (held-out raw rows), the ONNX fast path is written
    too when its predictions match on them (``path/onnx``, see
    :mod:`modelmill.registry.onnx_export`). Raises ``ValueError`` naming any type skops
    would not trust.
    """
    import mlflow.sklearn

    head = as_model_input(example.head(5))
    with warnings.catch_warnings():
        # mlflow 3.17 compares DataFrame.columns with a range (deprecated in pandas 3): not ours
        warnings.filterwarnings("ignore", message="Operation with range is deprecated")
        try:
            _save(mlflow.sklearn, model, path, example, head, metadata)
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


def _save(flavor: Any, model: Any, path: Path, example: Any, head: Any, metadata: Any) -> None:
    flavor.save_model(
        model,
        path=str(path),
        serialization_format="skops",
        skops_trusted_types=list(TRUSTED_TYPES),
        signature=nullable_signature(example, model.predict(head)),
        input_example=head,
        pip_requirements=pip_requirements(),
        metadata={"requires": "modelmill (custom transformers in modelmill.features)", **(metadata or {})},
    )


def as_model_input(frame: Any) -> Any:
    """A copy of ``frame`` for ``predict``: raw listing columns already match the signature."""
    return frame.copy()


def load_pyfunc(path: str | Path) -> Any:
    """The ``mlflow.pyfunc`` model at ``path`` (schema enforced on predict); read-only dirs work."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path))


def load_sklearn(path: str | Path) -> Any:
    """The fitted scikit-learn pipeline at ``path`` (no schema enforcement)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(path))
