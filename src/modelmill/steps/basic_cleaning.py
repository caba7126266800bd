"""basic_cleaning: typed values, rows with invalid values dropped, the declared filters applied.

Generated from the dataset spec (``params`` = :meth:`DatasetSpec.cleaning_params
<modelmill.datasets.spec.DatasetSpec.cleaning_params>`); :func:`clean` is a pure function of
the frame and those params. Rules, in order (each counts the rows *it* removes, so the counts
add up to the rows removed):

1. **invalid values**, per column in declared order: ``unparsable_<column>`` (a value present
   but not parsable as the column declares: ``"cheap"`` in a currency column, see
   :mod:`modelmill.datasets.parse`) and ``missing_<column>`` (no value in a column that is not
   ``nullable``). Listed only when they removed a row.
2. **deliberate filters**: ``range_<column>`` for every declared ``range`` (the target range,
   say; dates too, ``today`` allowed; a missing value in a nullable column is
   kept), ``box_<name>`` for every box (missing coordinates are outside), and ``duplicate_id``
   (the later rows of an id, with ``drop_duplicate_ids`` and an ``id``). Always listed.

When the invalid rows are more than ``cleaning.max_invalid_share`` of the table (default 5%)
the run stops with a one-line :class:`~modelmill.core.errors.DataCheckError` naming each rule
and its count: a batch whose target column is all text must never train on an empty or tiny
table. The filters do not count toward that share: they remove valid rows the project chose
not to model (a target range alone can remove 5% of a real table, which would then stop
at the default threshold), and the
data tests' ``row_count`` guards the size of what is left.

Only the declared columns are kept, in declared order (``extra_columns: allow`` lets a source
carry more; they stop here), so the data tests and everything downstream see exactly the
spec's table. Dates are written as ISO text. Cleaning does not impute: imputation belongs to
the inference pipeline so that production requests get exactly the same treatment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from modelmill.core.errors import ConfigError, DataCheckError
from modelmill.datasets.io import read_stored_table, write_csv
from modelmill.datasets.parse import dates_as_text, parse_column
from modelmill.datasets.spec import resolve_date
from modelmill.validation.checks import outside_range

if TYPE_CHECKING:
    from modelmill.runner import StepContext

SAMPLE, CLEAN = "sample.csv", "clean_sample.csv"


def require_params(step: str, params: Mapping[str, Any], keys: tuple[str, ...], source: str) -> None:
    """A one-line :class:`ConfigError` when a hand-built pipeline gives a data step other params
    (those of earlier versions, say) than the dataset spec's, instead of a ``KeyError``."""
    absent = [k for k in keys if k not in params]
    if absent:
        raise ConfigError(
            f"{step}: params without {', '.join(absent)}; give the step the dataset spec's {source} "
            "(see modelmill.pipelines.tabular)"
        )


def _declared(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise DataCheckError(
            f"basic_cleaning: declared column(s) {', '.join(absent)} missing from the sample "
            f"(it has {', '.join(map(str, frame.columns[:12]))}); "
            "fix the source or the dataset spec's columns"
        )
    return frame[names]


def _invalid(
    frame: pd.DataFrame, columns: list[Mapping[str, Any]]
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The parsed frame and, per invalid-value rule, the rows it flags (declared column order)."""
    parsed, flags = {}, {}
    for column in columns:
        name = str(column["name"])
        raw = frame[name]
        values, unparsable = parse_column(raw, column)
        parsed[name] = values
        flags[f"unparsable_{name}"] = unparsable
        if not column.get("nullable"):
            flags[f"missing_{name}"] = raw.isna() | (values.isna() & ~unparsable)
    return pd.DataFrame(parsed, index=frame.index), flags


def _outside(values: pd.Series, column: Mapping[str, Any]) -> pd.Series:
    """Present values beyond the column's range (dates: ``today`` is the day the step runs)."""
    low, high = column["range"]
    if column["kind"] == "date":
        low, high = (None if b is None else pd.Timestamp(resolve_date(str(b))) for b in (low, high))
    return outside_range(values, low, high)


def _outside_in(frame: pd.DataFrame, column: Mapping[str, Any]) -> pd.Series:
    return _outside(frame[column["name"]], column)


def _box(frame: pd.DataFrame, ranges: Mapping[str, Any]) -> pd.Series:
    """Rows outside the box (any coordinate outside its range, or missing)."""
    inside = pd.Series(True, index=frame.index)
    for column, (low, high) in ranges.items():
        inside &= pd.to_numeric(frame[column], errors="coerce").between(low, high).fillna(False).astype(bool)
    return ~inside


def _filtered(frame: pd.DataFrame, params: Mapping[str, Any], removed: dict[str, int]) -> pd.DataFrame:
    """``frame`` after every deliberate filter, each counted on what the previous ones left."""
    rules: list[tuple[str, Callable[[pd.DataFrame], pd.Series]]] = [
        (f"range_{c['name']}", partial(_outside_in, column=c))
        for c in params["columns"] if c.get("range") is not None
    ]  # fmt: skip
    for box, spec in (params["cleaning"].get("boxes") or {}).items():
        rules.append((f"box_{box}", partial(_box, ranges=spec["columns"])))
    id_column = params.get("id")
    if id_column and params["cleaning"].get("drop_duplicate_ids", True):
        rules.append(("duplicate_id", lambda f: f[id_column].duplicated(keep="first")))
    for rule, flag in rules:
        flagged = flag(frame)
        removed[rule] = int(flagged.sum())
        frame = frame[~flagged]
    return frame


def _stop_if_broken(removed: dict[str, int], rows: int, share: float) -> None:
    invalid = sum(removed.values())
    if rows == 0 or invalid / rows <= share:
        return
    counts = ", ".join(f"{rule} {n}" for rule, n in removed.items())
    raise DataCheckError(
        f"basic_cleaning: {invalid} of {rows} rows ({invalid / rows:.1%}) have values that do not parse "
        f"or are missing where the spec requires them ({counts}), more than cleaning.max_invalid_share "
        f"{share:.0%}: fix the source, or declare how the columns are written (parse, format, nullable) "
        "in the dataset spec"
    )


def clean(frame: pd.DataFrame, params: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The cleaned frame and how many rows each rule removed (see the module docstring)."""
    require_params("basic_cleaning", params, ("columns", "cleaning"), "DatasetSpec.cleaning_params()")
    columns = list(params["columns"])
    frame = _declared(frame, [str(c["name"]) for c in columns])
    parsed, flags = _invalid(frame, columns)
    removed: dict[str, int] = {}
    keep = pd.Series(True, index=frame.index)
    for rule, flagged in flags.items():
        hits = int((keep & flagged).sum())
        if hits:
            removed[rule] = hits
            keep &= ~flagged
    _stop_if_broken(removed, len(frame), float(params["cleaning"].get("max_invalid_share", 0.05)))
    parsed = _filtered(parsed[keep], params, removed).copy()
    for column in columns:
        if column["kind"] == "date":
            parsed[column["name"]] = dates_as_text(parsed[column["name"]])
        elif column["kind"] == "integer":
            parsed[column["name"]] = _whole(parsed[column["name"]])
    return parsed.reset_index(drop=True), removed


def _whole(values: pd.Series) -> pd.Series:
    """An integer column read as floats (Parquet's ``1947.0``, or a CSV column whose missing rows
    were just dropped) as ``int64`` when every value is whole and present: the model's signature
    declares such a column ``long``, and MLflow refuses to cast ``1947.0`` to it at predict time."""
    if not pd.api.types.is_float_dtype(values) or values.isna().any():
        return values
    return values.astype("int64") if bool((values == values.round()).all()) else values


def run(ctx: StepContext) -> None:
    """Write ``clean_sample.csv`` and log the rows removed per rule."""
    raw = read_stored_table(ctx.input(SAMPLE))
    frame, removed = clean(raw, ctx.params)
    for rule, count in removed.items():
        ctx.log.info("rule %s removed %d rows", rule, count)
    ctx.log_metrics({f"removed_{rule}": n for rule, n in removed.items()} | {"clean_rows": len(frame)})
    write_csv(frame, ctx.output(CLEAN))
    raw_version = ctx.input_version(SAMPLE)
    source = raw_version.metadata.get("source") if raw_version else None
    ctx.set_metadata(CLEAN, rows=len(frame), removed=removed, source=source)
