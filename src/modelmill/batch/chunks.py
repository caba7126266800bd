"""Score one table: validate, encode for the model, predict; in two halves that can overlap.

:func:`prepare_chunk` is the Python half (validation against the signature, the model's
input encoding); :func:`finish_chunk` the native half (the prediction, which releases the
GIL) and the output tables. The local engine runs the first half of the next chunk in a
thread while the second half of the current one runs; Ray actors call :func:`predict_chunk`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from modelmill.batch.model import ColumnSpec
from modelmill.batch.readers import Chunk
from modelmill.batch.validate import Checked, check_chunk


def predict_chunk(
    table: pa.Table,
    estimator: Any,
    columns: list[ColumnSpec],
    id_col: str | None,
    schema: pa.Schema,
    first_row: int,
) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """Validate and predict one table: predictions (``schema``), rejects and the valid rows' indexes."""
    prepared = prepare_chunk(table, estimator, columns, id_col, first_row)
    return finish_chunk(prepared, estimator, schema)


@dataclass
class PreparedChunk:
    """A table validated and encoded for the model: what is left is the prediction itself."""

    table: pa.Table
    checked: Checked
    inputs: Any  # the predictor's prepared input (None when no row is valid)
    first_row: int


def prepare_chunk(
    table: pa.Table, estimator: Any, columns: list[ColumnSpec], id_col: str | None, first_row: int
) -> PreparedChunk:
    """The Python half of scoring a table: validation and the model's input encoding."""
    checked = check_chunk(table, columns, id_col, first_row)
    inputs = estimator.prepare(checked.frame) if len(checked.frame) else None
    return PreparedChunk(table, checked, inputs, first_row)


def slimmed(chunk: Chunk, ready: PreparedChunk) -> tuple[Chunk, PreparedChunk]:
    """``chunk`` and ``ready`` without the parsed values and the frame, which the prediction and
    staging no longer need (they read row counts, ids, rejects and the encoded inputs): a chunk
    waiting in the read-ahead queue then holds its encoding only, not three copies of it."""
    rows = ready.table.select([])  # no columns, the same num_rows
    checked = replace(ready.checked, frame=ready.checked.frame.iloc[:0].copy())  # not a view
    return replace(chunk, table=rows), replace(ready, table=rows, checked=checked)


def finish_chunk(
    chunk: PreparedChunk, estimator: Any, schema: pa.Schema
) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """The native half: predictions (``schema``), rejects and the valid rows' indexes."""
    checked, id_col = chunk.checked, schema.names[0]
    ids = pa.array(checked.ids.to_numpy(), type=schema.field(id_col).type, from_pandas=True)
    bad = checked.rejects.column("row").to_numpy() - chunk.first_row
    good = np.setdiff1d(np.arange(chunk.table.num_rows, dtype="int64"), bad, assume_unique=True)
    return pa.table([ids, *_outputs(chunk, estimator, schema)], schema=schema), checked.rejects, good


def _outputs(chunk: PreparedChunk, estimator: Any, schema: pa.Schema) -> list[pa.Array]:
    """The prediction column(s) of ``schema``: a value, or a label and a probability per class."""
    classes = len(schema.names) - 2  # id, prediction, then one proba_<class> column per class
    if classes <= 0:
        predicted = np.empty(0) if chunk.inputs is None else estimator.run(chunk.inputs)
        return [pa.array(np.asarray(predicted, dtype="float64"))]
    if chunk.inputs is None:
        labels, proba = [], np.empty((0, classes))
    else:
        labels, proba = estimator.run_full(chunk.inputs)
    label_type = schema.field("prediction").type
    return [pa.array(list(labels), type=label_type), *(pa.array(proba[:, j]) for j in range(classes))]
