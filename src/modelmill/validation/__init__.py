"""Data validation: deterministic tests, statistical tests against a reference, reports.

Every test is generated from the dataset spec (:mod:`modelmill.datasets.spec`): its column
table says which columns exist, their types and nullability, legal ranges and values, boxes,
the id and which columns get a distribution test.

>>> from modelmill.validation import check_files, default_params
>>> results, report = check_files("new.csv", "reference.csv", default_params())
>>> [r.message for r in results if not r.passed]

The same tests run in four places:

* the pipeline step ``data_check`` (:mod:`modelmill.steps.data_check`), which also keeps
  the ``clean_sample.csv:reference`` alias;
* the CLI: ``modelmill check --csv NEW --ref REF [--config-dir DIR] [overrides] [--json]``;
* pytest, on any pair of files::

      pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REF.csv

* Python, through the functions below (``params``: :func:`params_from_config` of a composed
  config, or :func:`default_params` for the packaged one).

Columns are tested *as read* from the given file against their declared types
(:mod:`~modelmill.validation.schema`): a Parquet column of strings holding numbers is text, not
numbers. The pipeline runs the type tests in its get_data step too, on the user's file,
because the ``sample.csv`` copy the later steps read no longer shows them.

The package imports its modules on first use (pandas and scipy are slow to import, and the
pytest plugin of :mod:`~modelmill.validation.data_tests` is loaded in every pytest session of
an environment where modelmill is installed).

Modules: :mod:`~modelmill.validation.suite` (the functions below),
:mod:`~modelmill.validation.schema` (declared column types and the generic type
test), :mod:`~modelmill.validation.checks` (deterministic tests and the :class:`CheckResult`
record), :mod:`~modelmill.validation.stats` (KL, chi-square and Kolmogorov-Smirnov, with the
decision rule and the multiple-testing correction in its docstring),
:mod:`~modelmill.validation.report` (JSON + HTML).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelmill.validation.checks import MAX_OFFENDING, CheckResult, run_checks
    from modelmill.validation.report import build_report, failure_message, render_html, write_report
    from modelmill.validation.stats import kl_divergence, run_stats
    from modelmill.validation.suite import (
        check_files,
        default_params,
        params_from_config,
        read_sample,
        validate,
    )

_HOME = {
    "MAX_OFFENDING": "checks", "CheckResult": "checks", "run_checks": "checks",
    "build_report": "report", "failure_message": "report", "render_html": "report", "write_report": "report",
    "kl_divergence": "stats", "run_stats": "stats",
    "check_files": "suite", "default_params": "suite", "params_from_config": "suite",
    "read_sample": "suite", "validate": "suite",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The public names, imported from their module on first use."""
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_OFFENDING",
    "CheckResult",
    "build_report",
    "check_files",
    "default_params",
    "failure_message",
    "kl_divergence",
    "params_from_config",
    "read_sample",
    "render_html",
    "run_checks",
    "run_stats",
    "validate",
    "write_report",
]
