"""get_data: the raw listings sample from the demo generator, a local file or a URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmill.datasets.io import read_table, write_csv

if TYPE_CHECKING:
    import pandas as pd

    from modelmill.runner import StepContext


def run(ctx: StepContext) -> None:
    """Write ``sample.csv`` (type ``raw_data``)."""
    sample = str(ctx.params["sample"])
    if sample == "demo":
        from modelmill.datasets.nyc_demo import generate_listings

        frame = generate_listings(ctx.params["demo_rows"], ctx.params["demo_seed"])
    else:
        frame = _read_source(sample)
    write_csv(frame, ctx.output("sample.csv"))
    ctx.set_metadata("sample.csv", rows=len(frame), columns=list(frame.columns), source=sample)
    ctx.log_metric("raw_rows", len(frame))


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
