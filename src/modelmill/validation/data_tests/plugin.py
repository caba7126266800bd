"""Options and fixtures of the data tests (``--csv``, ``--ref`` and the thresholds), as a plugin.

pytest registers command-line options only from plugins and from the *initial* conftest
files, which it finds from path arguments, never from a ``--pyargs`` module name. So the
options live here, and a run by package name loads this module with ``-p``::

    pytest -p modelmill.validation.data_tests.plugin --pyargs modelmill.validation.data_tests \
        --csv NEW.csv --ref REFERENCE.csv

The package's ``conftest.py`` reuses these fixtures and adds the options itself when the
package directory is given as a path (then ``-p`` is not needed).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from modelmill.validation.checks import default_params

PLUGIN = "modelmill.validation.data_tests.plugin"
USAGE = f"pytest -p {PLUGIN} --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv"
OPTIONS = (("kl_threshold", float), ("ks_alpha", float), ("min_price", float), ("max_price", float),
           ("min_rows", int), ("max_rows", int))  # fmt: skip


def add_options(parser: pytest.Parser) -> None:
    """Register ``--csv``, ``--ref`` and the thresholds (defaults from conf/config.yaml)."""
    defaults = default_params()
    group = parser.getgroup("modelmill data tests")
    group.addoption("--csv", default=None, help="the sample to test (CSV or Parquet)")
    group.addoption("--ref", default=None, help="the reference sample for the statistical tests")
    for name, kind in OPTIONS:
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, type=kind, default=defaults[name], help=f"default {defaults[name]}")


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's options (see :func:`add_options`)."""
    add_options(parser)


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
    for name, _ in OPTIONS:
        values[name] = pytestconfig.getoption(name, default=values[name])
    return values
