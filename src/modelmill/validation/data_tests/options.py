"""Command-line options of the data tests, registered as a pytest plugin (entry point).

pytest reads options only from plugins and initial conftest files, never from a
``--pyargs`` package's conftest; this tiny module is loaded through the ``pytest11``
entry point so that the course's command works as it is::

    pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv

It imports nothing heavy and its defaults are ``None`` (the ``params`` fixture fills in
conf/config.yaml values), so loading it in every pytest session costs nothing.
"""

from __future__ import annotations

import pytest

THRESHOLDS = (("kl_threshold", float), ("ks_alpha", float), ("min_price", float), ("max_price", float),
              ("min_rows", int), ("max_rows", int), ("min_date", str), ("max_date", str))  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--csv``, ``--ref`` and the thresholds (default: the values in conf/config.yaml)."""
    group = parser.getgroup("modelmill data tests")
    group.addoption("--csv", default=None, help="the sample to test (CSV or Parquet)")
    group.addoption("--ref", default=None, help="the reference sample for the statistical tests")
    for name, kind in THRESHOLDS:
        flag = "--" + name.replace("_", "-")
        group.addoption(flag, type=kind, default=None, help="default: conf/config.yaml")
