"""Request schema from the model signature, and requests to a typed DataFrame.

The pydantic model is generated with ``create_model`` (``extra="forbid"``, strict types)
so ``/openapi.json`` lists the real columns and a wrong type or an unknown field is a
422 naming it. Types: ``string`` -> str, ``double``/``float`` -> float (JSON integers
accepted), ``long``/``integer`` -> int, ``boolean`` -> bool. ``string``, ``double`` and
``float`` columns are nullable (``null`` means missing, as in the training data);
integer and boolean columns are not (an absent optional column is still allowed: the
pipeline's ``EnsureColumns`` fills it). Validating here replaces MLflow's pyfunc schema
enforcement, which costs more than the prediction itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

_PY_TYPES: dict[str, type] = {
    "string": str,
    "double": float,
    "float": float,
    "long": int,
    "integer": int,
    "boolean": bool,
}
_DTYPES = {
    "string": "object",
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}
NULLABLE = frozenset({"string", "double", "float"})


@dataclass(frozen=True)
class Column:
    """One input column of the signature."""

    name: str
    type: str
    required: bool

    @property
    def nullable(self) -> bool:
        return self.type in NULLABLE


def columns_from_signature(signature: Any) -> list[Column]:
    """The input columns of an MLflow ``ModelSignature`` (column-based schemas only)."""
    if signature is None or signature.inputs is None:
        raise ValueError("the model has no input signature: cannot build the request schema")
    if signature.inputs.is_tensor_spec():
        raise ValueError("the model signature is a tensor spec: only column-based signatures are served")
    columns = []
    for spec in signature.inputs.inputs:
        kind = str(getattr(spec.type, "name", spec.type))
        if kind not in _PY_TYPES:
            raise ValueError(f"column {spec.name!r} has type {kind!r}, which the service does not support")
        if not spec.name:
            raise ValueError("the model signature has unnamed columns")
        columns.append(Column(spec.name, kind, bool(getattr(spec, "required", True))))
    return columns


def build_request_model(columns: Sequence[Column], name: str = "Listing") -> type[BaseModel]:
    """A pydantic model with one field per column (field names are aliases of the column names)."""
    fields: dict[str, Any] = {}
    for i, col in enumerate(columns):
        annotation: Any = _PY_TYPES[col.type]
        if col.nullable:
            annotation = annotation | None
        default: Any = ... if col.required else None
        description = (
            f"{col.type}{', nullable' if col.nullable else ''}{'' if col.required else ', optional'}"
        )
        fields[f"f{i}"] = (annotation, Field(default, alias=col.name, description=description))
    config = ConfigDict(extra="forbid", strict=True, populate_by_name=False, title=name)
    return create_model(name, __config__=config, **fields)


def to_frame(
    rows: Sequence[BaseModel] | Sequence[Mapping[str, Any]], columns: Sequence[Column]
) -> pd.DataFrame:
    """Validated rows to a DataFrame in signature order and dtypes.

    A column no row sets is left out (the pipeline adds it as missing); an integer column
    that only some rows set becomes float with NaN for the others.
    """
    records = [
        r.model_dump(by_alias=True, exclude_unset=True) if isinstance(r, BaseModel) else r for r in rows
    ]
    data: dict[str, Any] = {}
    for col in columns:
        values = [rec.get(col.name) for rec in records]
        present = [rec for rec in records if col.name in rec]
        if not present:
            continue
        if col.type == "string":
            data[col.name] = pd.Series(values, dtype="object")
        elif any(v is None for v in values):
            data[col.name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        else:
            data[col.name] = pd.Series(values, dtype=_DTYPES[col.type])
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)))


def records_from_split(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """MLflow's ``dataframe_split`` (``{"columns": [...], "data": [[...]]}``) as records."""
    columns = payload.get("columns")
    data = payload.get("data")
    if not isinstance(data, list):
        raise ValueError("dataframe_split needs 'data': a list of rows")
    if columns is None:
        raise ValueError("dataframe_split needs 'columns'")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ValueError("dataframe_split 'columns' must be a list of column names")
    records = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise ValueError(f"dataframe_split row {i} must be a list of {len(columns)} values")
        records.append(dict(zip(columns, row, strict=True)))
    return records


def example_records(example: Any, columns: Iterable[Column]) -> list[dict[str, Any]]:
    """Rows for a smoke prediction: the model's input example, else one row of defaults."""
    if isinstance(example, pd.DataFrame) and len(example):
        frame = example.astype(object).where(example.notna(), None)
        return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    defaults = {"string": "", "double": 0.0, "float": 0.0, "long": 0, "integer": 0, "boolean": False}
    return [{c.name: defaults[c.type] for c in columns if c.required}]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
