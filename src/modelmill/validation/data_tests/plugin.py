"""Fixtures of the data tests: ``params`` (the spec's), ``data`` (``--csv``), ``ref_data``
(``--ref``), and the results of every test, computed once per session.

The options themselves are registered by :mod:`modelmill.validation.data_tests.options`
(a ``pytest11`` entry point), so ``pytest --pyargs modelmill.validation.data_tests --csv
NEW --ref REF`` works; the package's ``conftest.py`` re-exports these fixtures and
parametrizes the tests by the spec's columns (:func:`spec_params`).

The params come from a composed config like every other command's (``--config-dir``,
``--override``, the threshold flags): this front end, like the CLI, is the one place of the
validation package that composes a config (import-linter allows this one import).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from modelmill.validation.checks import CheckResult
from modelmill.validation.data_tests.options import FLAGS

USAGE = "pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv"
_PARAMS = pytest.StashKey[tuple[dict[str, Any] | None, str]]()


def overrides(config: pytest.Config) -> list[str]:
    """The config overrides the command line asks for: ``--override`` and the threshold flags."""
    given = list(config.getoption("modelmill_overrides", default=None) or [])
    for name, (_, key) in FLAGS.items():
        value = config.getoption(name, default=None)
        if value is not None:
            given.append(f"{key}={value}")
    return given


def spec_params(config: pytest.Config) -> tuple[dict[str, Any] | None, str]:
    """``(params, "")`` of the selected config, or ``(None, why)`` when it does not compose."""
    if _PARAMS not in config.stash:
        from modelmill.config import compose
        from modelmill.core.errors import ModelmillError
        from modelmill.validation import params_from_config

        try:
            cfg = compose(
                overrides(config), config_dir=config.getoption("modelmill_config_dir", default=None)
            )
            config.stash[_PARAMS] = (params_from_config(cfg), "")
        except ModelmillError as exc:
            config.stash[_PARAMS] = (None, str(exc))
    return config.stash[_PARAMS]


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
def params(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The dataset spec's test params and the thresholds (conf values, overridden by options)."""
    values, why = spec_params(pytestconfig)
    if values is None:
        pytest.fail(why, pytrace=False)
    return values


@pytest.fixture(scope="session")
def data(pytestconfig: pytest.Config) -> pd.DataFrame:
    """The sample named by ``--csv``."""
    return _read(pytestconfig, "csv")


@pytest.fixture(scope="session")
def ref_data(pytestconfig: pytest.Config) -> pd.DataFrame:
    """The reference named by ``--ref``."""
    return _read(pytestconfig, "ref")


@pytest.fixture(scope="session")
def deterministic(
    pytestconfig: pytest.Config, data: pd.DataFrame, params: dict[str, Any]
) -> dict[str, CheckResult]:
    """Every deterministic test's result by name (``allowed: reference`` uses ``--ref`` if given)."""
    from modelmill.validation import run_checks

    reference = _read(pytestconfig, "ref") if pytestconfig.getoption("ref", default=None) else None
    return {r.name: r for r in run_checks(data, params, reference)}


@pytest.fixture(scope="session")
def statistical(data: pd.DataFrame, ref_data: pd.DataFrame, params: dict[str, Any]) -> dict[str, CheckResult]:
    """Every statistical test's result by name (the multiple-testing correction spans them all)."""
    from modelmill.validation import run_stats

    return {r.name: r for r in run_stats(data, ref_data, params)}
