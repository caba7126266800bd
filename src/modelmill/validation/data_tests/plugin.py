"""Fixtures of the data tests: ``data`` (``--csv``), ``ref_data`` (``--ref``), ``params``.

The options themselves are registered by :mod:`modelmill.validation.data_tests.options`
(a ``pytest11`` entry point), so ``pytest --pyargs modelmill.validation.data_tests --csv
NEW --ref REF`` works; the package's ``conftest.py`` re-exports these fixtures.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from modelmill.validation.checks import default_params
from modelmill.validation.data_tests.options import THRESHOLDS

USAGE = "pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv"


def _read(config: pytest.Config, option: str) -> pd.DataFrame:
    from modelmill.core.errors import UsageError
    from modelmill.validation import read_sample

    value = config.getoption(option, default=None)
    if not value:
        pytest.fail(f"--{option} is required: {USAGE}", pytrace=False)
    try:
        return read_sample(value, f"--{option}")
    except UsageError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def data(pytestconfig: pytest.Config) -> pd.DataFrame:
    """The sample named by ``--csv``."""
    return _read(pytestconfig, "csv")


@pytest.fixture(scope="session")
def ref_data(pytestconfig: pytest.Config) -> pd.DataFrame:
    """The reference named by ``--ref``."""
    return _read(pytestconfig, "ref")


@pytest.fixture(scope="session")
def params(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Thresholds: conf/config.yaml values overridden by the command-line options."""
    values = default_params()
    for name, _ in THRESHOLDS:
        given = pytestconfig.getoption(name, default=None)
        if given is not None:
            values[name] = given
    return values
