"""Feature engineering: importable transformers, the inference pipeline factory, model families.

Names load on first use (PEP 562), so the pipeline factory can import the light module
:mod:`~modelmill.features.estimators` to check the config without paying scikit-learn's
import (~1.3 s) on a fully cached run.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmill.features.pipeline import build_inference_pipeline, build_preprocessor, used_columns
    from modelmill.features.transformers import (
        AsBoolean,
        CategoryText,
        DaysSince,
        DaysSinceReview,
        EnsureColumns,
        TextColumn,
    )

_EXPORTS = {
    "AsBoolean": "modelmill.features.transformers",
    "CategoryText": "modelmill.features.transformers",
    "DaysSince": "modelmill.features.transformers",
    "DaysSinceReview": "modelmill.features.transformers",
    "EnsureColumns": "modelmill.features.transformers",
    "TextColumn": "modelmill.features.transformers",
    "build_inference_pipeline": "modelmill.features.pipeline",
    "build_preprocessor": "modelmill.features.pipeline",
    "used_columns": "modelmill.features.pipeline",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmill.features' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "AsBoolean",
    "CategoryText",
    "DaysSince",
    "DaysSinceReview",
    "EnsureColumns",
    "TextColumn",
    "build_inference_pipeline",
    "build_preprocessor",
    "used_columns",
]
