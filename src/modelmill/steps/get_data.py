"""get_data: the raw listings sample from the demo generator, a local file or a URL.

The sample is stored as ``sample.csv``, and a CSV has no types: a Parquet column of strings
such as ``"150"`` written to CSV and read back would come out as numbers, and an integer
``last_review`` as digits. So the column tests run here, on the frame *as read* from the
user's file (the declared types of :mod:`modelmill.validation.schema`): a batch whose columns
do not hold their declared types stops the run at this step (a
:class:`~modelmill.core.errors.DataCheckError`, exit 1) and nothing is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmill.core.errors import DataCheckError
from modelmill.datasets.io import read_table, write_csv

if TYPE_CHECKING:
    import pandas as pd

    from modelmill.runner import StepContext


def run(ctx: StepContext) -> None:
    """Write ``sample.csv`` (type ``raw_data``) once its columns passed the type tests."""
    sample = str(ctx.params["sample"])
    if sample == "demo":
        from modelmill.datasets.nyc_demo import generate_listings

        frame = generate_listings(ctx.params["demo_rows"], ctx.params["demo_seed"])
    else:
        frame = _read_source(sample)
    check_types(frame, "demo data" if sample == "demo" else f"etl.sample={sample!r}")
    write_csv(frame, ctx.output("sample.csv"))
    ctx.set_metadata("sample.csv", rows=len(frame), columns=list(frame.columns), source=sample)
    ctx.log_metric("raw_rows", len(frame))


def check_types(frame: pd.DataFrame, label: str) -> None:
    """Raise :class:`DataCheckError` (one line) when the columns as read are not the declared ones."""
    from modelmill.validation.checks import check_column_names, check_dtypes

    failed = [r for r in (check_column_names(frame), check_dtypes(frame)) if not r.passed]
    if failed:
        detail = " | ".join(r.message for r in failed)
        raise DataCheckError(f"{label} as read, before anything is stored: {detail}")


def _read_source(sample: str) -> pd.DataFrame:
    """Read a local path or an http(s) URL (through fsspec); errors name the source."""
    from modelmill.core.errors import UsageError

    try:
        return read_table(sample)
    except FileNotFoundError:
        raise UsageError(
            f"etl.sample={sample!r}: no such file. Use 'demo', a CSV/Parquet path or an http(s) URL."
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"etl.sample={sample!r} could not be read: {exc}") from None
