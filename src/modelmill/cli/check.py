"""``modelmill check``: run the data tests on a CSV (and against a reference) without a pipeline.

The tests are those of the config's dataset spec (``--config-dir``, overrides), as in the
pipeline's data_check step: ``modelmill check --csv NEW --ref REF [--config-dir DIR] [KEY=VALUE...]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelmill.cli._common import JsonOption, handle_errors, print_json
from modelmill.core.errors import DataCheckError


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
        if r.details.get("effect") is not None:  # KS/chi-square verdicts need both p and the effect
            what = "D" if r.name.startswith("ks_") else "TV"
            stat = f"p={stat} {what}={r.details['effect']:.3f}"
            threshold = f"p<{threshold} and {what}>={r.details['min_effect']}"
        result = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
        table.add_row(r.name, result, stat, threshold)
    Console().print(table)


def _overrides(given: dict[str, Any]) -> list[str]:
    """The threshold flags as config overrides (``--min-rows 5`` is ``data_check.min_rows=5``)."""
    from modelmill.validation.data_tests.options import FLAGS

    return [f"{FLAGS[name][1]}={value}" for name, value in given.items() if value is not None]


@handle_errors
def check_command(
    overrides: list[str] = typer.Argument(
        None,
        help="Config overrides (the dataset spec and data_check thresholds), e.g. data_check.min_rows=500.",
    ),
    csv: Path = typer.Option(..., "--csv", help="The sample to test (CSV or Parquet)."),
    ref: Path = typer.Option(None, "--ref", help="Reference sample: adds the statistical tests."),
    config_dir: Path = typer.Option(None, "--config-dir", help="Use this Hydra config directory."),
    as_json: bool = JsonOption,
    kl_threshold: float = typer.Option(
        None, "--kl-threshold", help="Max KL divergence in bits (default data_check.kl_threshold)."
    ),
    ks_alpha: float = typer.Option(
        None, "--ks-alpha", help="Family-wise alpha of the KS/chi-square tests (data_check.ks_alpha)."
    ),
    correction: str = typer.Option(
        None, "--correction", help="Multiple-testing correction: holm or bonferroni (data_check.correction)."
    ),
    min_rows: int = typer.Option(None, "--min-rows", help="Default data_check.min_rows."),
    max_rows: int = typer.Option(None, "--max-rows", help="Default data_check.max_rows."),
    report: Path = typer.Option(None, "--report", help="Also write report.json and report.html here."),
) -> None:
    """Run the data tests of the config's dataset spec on --csv (and the statistical tests against
    --ref); exit 1 if any fails.

    Columns are tested as read from the file: a Parquet column of strings holding numbers
    fails column_dtypes, as in the pipeline's get_data step.
    """
    from modelmill.config import compose
    from modelmill.validation import check_files, failure_message, params_from_config, write_report

    flags = {"kl_threshold": kl_threshold, "ks_alpha": ks_alpha, "correction": correction,
             "min_rows": min_rows, "max_rows": max_rows}  # fmt: skip
    cfg = compose([*(overrides or []), *_overrides(flags)], config_dir=config_dir)
    results, doc = check_files(csv, ref, params_from_config(cfg))
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
