"""Data validation: deterministic tests, statistical tests against a reference, reports.

>>> from modelmill.validation import check_files, default_params
>>> results, report = check_files("new.csv", "reference.csv", default_params())
>>> [r.message for r in results if not r.passed]

The same tests run in four places:

* the pipeline step ``data_check`` (:mod:`modelmill.steps.data_check`), which also keeps
  the ``clean_sample.csv:reference`` alias;
* the CLI: ``modelmill check --csv NEW --ref REF [--json] [--report DIR]``;
* pytest, on any pair of files::

      pytest --pyargs modelmill.validation.data_tests --csv NEW.csv --ref REF.csv

* Python, through the functions below.

Columns are tested *as read* from the given file, against the declared types of
:mod:`~modelmill.validation.schema` (a Parquet column of strings holding numbers is text, not
numbers). The pipeline runs those type tests in its get_data step too, on the user's file,
because the ``sample.csv`` copy the later steps read no longer shows them.

Modules: :mod:`~modelmill.validation.schema` (declared column types and the generic type
test), :mod:`~modelmill.validation.checks` (deterministic tests and the :class:`CheckResult`
record), :mod:`~modelmill.validation.stats` (KL and Kolmogorov-Smirnov, with the decision rule
in its docstring), :mod:`~modelmill.validation.report` (JSON + HTML).
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from modelmill.core.errors import UsageError
from modelmill.validation.checks import (
    KNOWN_GROUPS,
    MAX_OFFENDING,
    CheckResult,
    default_params,
    run_checks,
)
from modelmill.validation.report import build_report, failure_message, render_html, write_report
from modelmill.validation.stats import KS_COLUMNS, kl_divergence, run_stats

PathLike = str | os.PathLike[str]


def validate(
    frame: pd.DataFrame, reference: pd.DataFrame | None, params: dict[str, Any]
) -> list[CheckResult]:
    """Every deterministic test, plus the statistical tests when a reference is given."""
    results = run_checks(frame, params)
    if reference is not None:
        results += run_stats(frame, reference, params["kl_threshold"], params["ks_alpha"])
    return results


def read_sample(path: PathLike, label: str = "sample") -> pd.DataFrame:
    """A CSV or Parquet sample; a missing or unreadable file is a :class:`UsageError` naming it."""
    from modelmill.datasets.io import read_table

    if not os.path.isfile(path):
        raise UsageError(f"{label} {os.fspath(path)}: no such file")
    try:
        return read_table(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{label} {os.fspath(path)} could not be read: {exc}") from None


def check_files(
    csv: PathLike, ref: PathLike | None, params: dict[str, Any] | None = None
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Test the file ``csv`` (against ``ref`` if given): the results and the report document."""
    params = {**default_params(), **(params or {})}
    frame = read_sample(csv, "--csv")
    reference = read_sample(ref, "--ref") if ref is not None else None
    results = validate(frame, reference, params)
    notes = [] if reference is not None else ["no reference given: statistical tests skipped"]
    report = build_report(
        results,
        sample=os.fspath(csv),
        reference=os.fspath(ref) if ref is not None else None,
        params=params,
        notes=notes,
    )
    return results, report


__all__ = [
    "KNOWN_GROUPS",
    "KS_COLUMNS",
    "MAX_OFFENDING",
    "CheckResult",
    "build_report",
    "check_files",
    "default_params",
    "failure_message",
    "kl_divergence",
    "read_sample",
    "render_html",
    "run_checks",
    "run_stats",
    "validate",
    "write_report",
]
