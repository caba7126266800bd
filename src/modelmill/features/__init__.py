"""Feature engineering: importable transformers and the inference pipeline factory."""

from modelmill.features.pipeline import build_inference_pipeline, build_preprocessor, used_columns
from modelmill.features.transformers import DaysSinceReview, EnsureColumns, TextColumn

__all__ = [
    "DaysSinceReview",
    "EnsureColumns",
    "TextColumn",
    "build_inference_pipeline",
    "build_preprocessor",
    "used_columns",
]
