"""The fixtures (defined in :mod:`.plugin`) and the tests' parameters: the spec's columns.

The ``--csv``/``--ref``/threshold options come from :mod:`.options`, a pytest plugin
registered by the package's ``pytest11`` entry point.
"""

from __future__ import annotations

import pytest

from modelmill.validation.data_tests.plugin import (
    data,
    deterministic,
    params,
    ref_data,
    spec_params,
    statistical,
)
from modelmill.validation.stats import drift_test_kind

__all__ = ["data", "deterministic", "params", "ref_data", "statistical"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per declared allowed list, box, range and distribution test of the spec."""
    values, _ = spec_params(metafunc.config)  # a config that does not compose fails in ``params``
    columns = values["columns"] if values else []
    choices = {
        "allowed_column": [c["name"] for c in columns if c.get("allowed") is not None],
        "box": list((values or {}).get("boxes") or {}),
        "range_column": [c["name"] for c in columns if c.get("range") is not None],
        "ks_column": [c["name"] for c in columns if drift_test_kind(c) == "ks"],
        "categorical_column": [c["name"] for c in columns if drift_test_kind(c) == "categorical"],
    }
    for name, found in choices.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, found)
