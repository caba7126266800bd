"""``modelmill check``: run the data tests on a CSV (and against a reference) without a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, handle_errors, print_json
from modelmill.core.errors import DataCheckError, UsageError


def _short(value: Any) -> str:
    """A threshold in a few characters: long lists become their length."""
    if isinstance(value, dict) and len(value) > 2:
        return f"{len(value)} items"
    if isinstance(value, dict):
        return " ".join(f"{k} {_short(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return f"[{', '.join(_short(v) for v in value)}]" if len(value) <= 2 else f"{len(value)} items"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _table(results: list[Any]) -> None:
    """One row per test; failures are detailed on stderr by the error handler."""
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("test", "result", "statistic", "threshold"):
        table.add_column(column, overflow="fold")
    for r in results:
        stat = "-" if r.statistic is None else _number(r.statistic)
        threshold = _short(r.threshold)
        if "ks_statistic" in r.details:  # the KS verdict needs both p and D
            stat = f"p={stat} D={r.details['ks_statistic']:.3f}"
            threshold = f"p<{threshold} and D>={r.details['min_effect']}"
        result = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
        table.add_row(r.name, result, stat, threshold)
    Console().print(table)


@handle_errors
def check_command(
    csv: Path = typer.Option(..., "--csv", help="The sample to test (CSV or Parquet)."),
    ref: Path = typer.Option(None, "--ref", help="Reference sample: adds the statistical tests."),
    as_json: bool = JsonOption,
    kl_threshold: float = typer.Option(
        None, "--kl-threshold", help="Max KL divergence in bits (default data_check.kl_threshold)."
    ),
    ks_alpha: float = typer.Option(
        None, "--ks-alpha", help="KS alpha, split over the columns (default data_check.ks_alpha)."
    ),
    min_price: float = typer.Option(None, "--min-price", help="Default etl.min_price."),
    max_price: float = typer.Option(None, "--max-price", help="Default etl.max_price."),
    min_rows: int = typer.Option(None, "--min-rows", help="Default data_check.min_rows."),
    max_rows: int = typer.Option(None, "--max-rows", help="Default data_check.max_rows."),
    min_date: str = typer.Option(None, "--min-date", help="YYYY-MM-DD or today (data_check.min_date)."),
    max_date: str = typer.Option(None, "--max-date", help="YYYY-MM-DD or today (data_check.max_date)."),
    report: Path = typer.Option(None, "--report", help="Also write report.json and report.html here."),
) -> None:
    """Run the data tests on --csv (and the statistical tests against --ref); exit 1 if any fails.

    Columns are tested as read from the file: a Parquet column of strings holding numbers
    fails column_dtypes, as in the pipeline's get_data step.
    """
    from modelmill.validation import check_files, failure_message, write_report
    from modelmill.validation.schema import resolve_date

    for flag, value in (("--min-date", min_date), ("--max-date", max_date)):
        try:
            if value is not None:
                resolve_date(value)
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    given = {"kl_threshold": kl_threshold, "ks_alpha": ks_alpha, "min_price": min_price,
             "max_price": max_price, "min_rows": min_rows, "max_rows": max_rows,
             "min_date": min_date, "max_date": max_date}  # fmt: skip
    results, doc = check_files(csv, ref, {k: v for k, v in given.items() if v is not None})
    if report is not None:
        write_report(doc, report)
    if as_json:
        print_json(doc)
    else:
        _table(results)
        s, notes = doc["summary"], "".join(f"; {n}" for n in doc["notes"])
        typer.echo(f"{s['passed']} of {s['total']} tests passed{notes}")
    if doc["failed_tests"]:  # on stderr, exit 1: stdout stays parseable with --json
        raise DataCheckError(failure_message(results))
