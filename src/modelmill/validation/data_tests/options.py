"""Command-line options of the data tests, registered as a pytest plugin (entry point) only
when the data tests are requested.

pytest reads options only from plugins and initial conftest files, never from a
``--pyargs`` package's conftest, so this tiny module is loaded through the package's
``pytest11`` entry point, in *every* pytest session of an environment where modelmill is
installed. It must therefore claim nothing there: a project whose own ``conftest.py`` adds
``--csv`` (the course's data tests do) would crash with "option dest 'csv' already used".
So the options are added by :func:`pytest_load_initial_conftests` (called for entry-point
plugins before the command line is parsed) and only when the arguments name this package
(``--pyargs modelmill.validation.data_tests[.test_data]``) or a path inside it::

    pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REFERENCE.csv

Besides ``--csv``/``--ref``: ``--config-dir DIR`` and ``--override KEY=VALUE`` (repeatable)
select the config and so the dataset spec the tests are generated from (default: the
packaged one), and the thresholds as flags (:data:`FLAGS`, each a config override). It
imports nothing heavy, so loading it costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: ``modelmill check`` reads FLAGS from here
    import pytest

PACKAGE = "modelmill.validation.data_tests"
HERE = Path(__file__).resolve().parent
# flag -> (type, the config key it overrides): the thresholds every project has; a dataset's own
# keys (a range, a date bound) are set with --override KEY=VALUE
FLAGS = {
    "kl_threshold": (float, "data_check.kl_threshold"),
    "ks_alpha": (float, "data_check.ks_alpha"),
    "correction": (str, "data_check.correction"),
    "min_rows": (int, "data_check.min_rows"),
    "max_rows": (int, "data_check.max_rows"),
}


def _names_us(arg: str, invocation_dir: Path) -> bool:
    target = arg.split("::", 1)[0]
    if target == PACKAGE or target.startswith(PACKAGE + "."):
        return True
    try:
        path = Path(invocation_dir, os.path.expanduser(target)).resolve()
    except (OSError, ValueError):
        return False
    return path == HERE or HERE in path.parents


def requested(args: Sequence[str], invocation_dir: Path | None = None) -> bool:
    """Whether the command line names the data tests (by package name or by a path inside it)."""
    where = invocation_dir or Path.cwd()
    return any(_names_us(a, where) for a in args if a and not a.startswith("-"))


def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Add the data tests' options when (and only when) the data tests are requested."""
    if not requested(args, early_config.invocation_params.dir):
        return
    group = parser.getgroup("modelmill data tests")
    group.addoption("--csv", default=None, help="the sample to test (CSV or Parquet)")
    group.addoption("--ref", default=None, help="the reference sample for the statistical tests")
    group.addoption("--config-dir", dest="modelmill_config_dir", default=None,
                    help="the modelmill config directory whose dataset spec the tests follow")  # fmt: skip
    group.addoption("--override", dest="modelmill_overrides", action="append", default=[],
                    metavar="KEY=VALUE",
                    help="a config override (repeatable), e.g. data_check.min_rows=500")  # fmt: skip
    for name, (kind, key) in FLAGS.items():
        group.addoption("--" + name.replace("_", "-"), type=kind, default=None, help=f"sets {key}")
