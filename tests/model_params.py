"""The train step's params for the feature and model tests, built as the pipeline builds them:
the packaged NYC spec's (``dataset=nyc_rentals``) or a small inline spec's features, a family
and its keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from modelmill.datasets.spec import DatasetSpec, load_spec


@cache
def nyc_spec(tfidf_words: int = 5) -> DatasetSpec:
    """The packaged default spec, composed with the default config (5 TF-IDF words by default)."""
    from modelmill import config
    from modelmill.datasets.spec import spec_from_config

    return spec_from_config(config.compose([f"modeling.max_tfidf_features={tfidf_words}"]))


def train_params(
    family: str, kwargs: Mapping[str, Any], transform: str = "none",
    spec: DatasetSpec | Mapping[str, Any] | None = None, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """``features_params()`` of ``spec`` (default NYC's) + the family, its kwargs and the seed."""
    chosen = nyc_spec() if spec is None else spec if isinstance(spec, DatasetSpec) else load_spec(spec)
    return {**chosen.features_params(), "random_seed": seed, "estimator": family,
            "target_transform": transform, family: dict(kwargs)}  # fmt: skip
