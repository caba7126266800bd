"""get_data: the raw sample from the spec's demo generator, a local file or a URL.

Sources (``params["sample"]``): ``demo`` calls the dataset spec's generator (``dataset.demo``,
a ``module:function`` taking ``(rows, seed)`` and returning a DataFrame, with ``etl.demo_rows``
and ``etl.demo_seed``); a CSV/Parquet path; an http(s) URL (read through fsspec).

The sample is stored as ``sample.csv``, and a CSV has no types: a Parquet column of strings
such as ``"150"`` written to CSV and read back would come out as numbers, and an integer
date as digits. So the column tests run here, on the frame *as read* from the user's file,
against the spec's column table (``params["columns"]``; :mod:`modelmill.validation.schema`):
the declared columns must be there (exactly, in order, with ``extra_columns: error``; at
least, with ``allow``), a column with a declared ``parse`` may hold text (cleaning parses it
and counts what does not parse), a numeric column holding text without one is a failure,
and dates are dates or text in the declared format. A batch that fails stops the run at this
step (a :class:`~modelmill.core.errors.DataCheckError`, exit 1) and nothing is stored.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from modelmill.core.errors import ConfigError, DataCheckError, UsageError
from modelmill.datasets.io import read_table, write_csv

if TYPE_CHECKING:
    import pandas as pd

    from modelmill.runner import StepContext

SAMPLE = "sample.csv"


def run(ctx: StepContext) -> None:
    """Write ``sample.csv`` (type ``raw_data``) once its columns passed the type tests."""
    p = ctx.params
    if "columns" not in p:
        raise ConfigError(
            "get_data: params without columns; give the step the dataset spec's column table, "
            "DatasetSpec.cleaning_params()['columns'] (see modelmill.pipelines.tabular)"
        )
    sample = str(p["sample"])
    if sample == "demo":
        frame = generate_demo(str(p.get("demo") or ""), int(p["demo_rows"]), int(p["demo_seed"]))
    else:
        frame = _read_source(sample)
    label = "demo data" if sample == "demo" else f"etl.sample={sample!r}"
    check_types(frame, label, p["columns"], p.get("extra_columns", "allow"), p.get("id"))
    write_csv(frame, ctx.output(SAMPLE))
    ctx.set_metadata(SAMPLE, rows=len(frame), columns=list(map(str, frame.columns)), source=sample)
    ctx.log_metric("raw_rows", len(frame))


def generate_demo(reference: str, rows: int, seed: int) -> pd.DataFrame:
    """The rows of the spec's demo generator ``module:function`` (called as ``function(rows, seed)``)."""
    import pandas as pd

    module_name, _, function = reference.partition(":")
    if not module_name or not function:
        raise ConfigError(f"dataset.demo={reference!r}: expected module:function, a rows generator")
    try:
        generator = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"dataset.demo={reference!r} cannot be imported: {exc}") from None
    frame = generator(rows, seed)
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"dataset.demo={reference!r} returned {type(frame).__name__}, not a DataFrame")
    return frame


def check_types(
    frame: pd.DataFrame,
    label: str,
    columns: Sequence[Mapping[str, Any]],
    extra_columns: str = "allow",
    id_column: str | None = None,
) -> None:
    """Raise :class:`DataCheckError` (one line) when the columns as read are not the declared ones
    (offending rows named by ``id_column``, or by row number without one)."""
    from modelmill.validation.checks import check_column_names, check_dtypes

    names = [str(c["name"]) for c in columns]
    results = (
        check_column_names(frame, names, exact=extra_columns == "error"),
        check_dtypes(frame, columns, as_read=True, id_column=id_column),
    )
    failed = [r for r in results if not r.passed]
    if failed:
        detail = " | ".join(r.message for r in failed)
        raise DataCheckError(f"{label} as read, before anything is stored: {detail}")


def _read_source(sample: str) -> pd.DataFrame:
    """Read a local path or an http(s) URL (through fsspec); errors name the source."""
    try:
        return read_table(sample)
    except FileNotFoundError:
        raise UsageError(
            f"etl.sample={sample!r}: no such file. Use 'demo', a CSV/Parquet path or an http(s) URL."
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"etl.sample={sample!r} could not be read: {exc}") from None
