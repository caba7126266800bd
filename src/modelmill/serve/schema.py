"""Request schema from the model signature, and requests to a typed DataFrame.

The pydantic model is generated with ``create_model`` (``extra="forbid"``, strict types)
so ``/openapi.json`` lists the real columns and a wrong type or an unknown field is a
422 naming it. Types: ``string`` -> str, ``double``/``float`` -> float (JSON integers
accepted), ``long``/``integer`` -> int (``3.0`` accepted: JSON Schema calls it an integer),
``boolean`` -> bool. ``string``, ``double`` and ``float`` columns are nullable (``null``
means missing, as in the training data); integer and boolean columns are not (an absent
optional column is still allowed: the pipeline's ``EnsureColumns`` fills it). Numbers
must fit the dtype the model computes in: ``long``/``integer`` within int64/int32,
``double``/``float`` finite and within the float32 range (scikit-learn trees and
onnxruntime cast to float32; a larger value used to be a 500). Validating here replaces
MLflow's pyfunc schema enforcement, which costs more than the prediction itself.
:func:`document_openapi` declares every request body and response of the service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

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
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_BOUNDS: dict[str, tuple[float, float]] = {
    "double": (-_FLOAT32_MAX, _FLOAT32_MAX),  # tree models and onnxruntime compute in float32
    "float": (-_FLOAT32_MAX, _FLOAT32_MAX),
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
}


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


def build_request_model(columns: Sequence[Column], name: str = "Row") -> type[BaseModel]:
    """A pydantic model with one field per column (field names are aliases of the column names)."""
    fields: dict[str, Any] = {}
    for i, col in enumerate(columns):
        annotation: Any = _PY_TYPES[col.type]
        if col.type in _BOUNDS:  # what the model's dtype holds: out of range is a 422, not a 500
            low, high = _BOUNDS[col.type]
            annotation = Annotated[annotation, Field(ge=low, le=high, allow_inf_nan=False)]
        if col.type in ("long", "integer"):
            annotation = Annotated[annotation, BeforeValidator(_integral_float_to_int)]
        if col.nullable:
            annotation = annotation | None
        default: Any = ... if col.required else None
        description = (
            f"{col.type}{', nullable' if col.nullable else ''}{'' if col.required else ', optional'}"
        )
        fields[f"f{i}"] = (annotation, Field(default, alias=col.name, description=description))
    config = ConfigDict(extra="forbid", strict=True, populate_by_name=False, title=name)
    return create_model(name, __config__=config, **fields)


def _integral_float_to_int(value: Any) -> Any:
    """``3.0`` is an integer in JSON Schema (and in ``/openapi.json``): accept it as ``3``;
    ``2.5``, strings and booleans still fail the strict ``int``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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


# --------------------------------------------------------------------------- OpenAPI
# The handlers answer with JSONResponse (their bodies are built by hand), so FastAPI cannot
# infer the responses: they are declared here, and schemathesis checks the app against them
# (tests/func/test_serve_schemathesis.py).
def _obj(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


_STR = {"type": "string"}
_NULLABLE_STR = {"anyOf": [_STR, {"type": "null"}]}
_MODEL = _obj({"name": _STR, "version": _STR}, ["name", "version"])
_PREDICTIONS = {"type": "array", "items": {"type": "number"}}
_ERROR_ITEM = _obj(
    {"loc": {"type": "array", "items": {"anyOf": [_STR, {"type": "integer"}]}}, "msg": _STR, "type": _STR},
    ["loc", "msg", "type"],
)
_DETAIL = _obj({"detail": _STR}, ["detail"])
_NOT_READY = _obj({"detail": _STR, "error": _NULLABLE_STR}, ["detail"])
_MLFLOW_ERROR = _obj({"error_code": _STR, "message": _STR}, ["error_code", "message"])


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def document_openapi(
    schema: dict[str, Any], row: dict[str, Any] | None, max_batch: int, api_key: bool
) -> dict[str, Any]:
    """Complete FastAPI's ``schema`` with the request bodies and every response the service
    sends. ``row`` is the served model's request schema (``None`` before a model is
    loaded: the bodies are then left undescribed)."""
    paths = schema["paths"]
    not_ready = _json("no model loaded yet (error: why)", _NOT_READY)
    too_big = _json("body larger than max_body_bytes, or more rows than max_batch", _DETAIL)
    not_json = _json("the body is declared as something other than application/json", _DETAIL)
    fallback = _obj({"wanted": _obj({"name": _STR, "version": _STR, "uri": _STR}), "reason": _NULLABLE_STR})
    paths["/ready"]["get"]["responses"] = {
        "200": _json(
            "a model is loaded (fallback: an older version serves because the one asked for was refused)",
            _obj({"status": _STR, "model": _MODEL, "fallback": fallback}, ["status", "model"]),
        ),
        "503": not_ready,
    }
    paths["/metrics"]["get"]["responses"] = {
        "200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": _STR}}}
    }
    paths["/predict"]["post"]["responses"] = {
        "200": _json(
            "one prediction per row",
            _obj({"predictions": _PREDICTIONS, "model": _MODEL}, ["predictions", "model"]),
        ),
        "413": too_big,
        "415": not_json,
        "422": _json(
            "an invalid row (each error names its field) or an empty list",
            _obj({"detail": {"anyOf": [{"type": "array", "items": _ERROR_ITEM}, _STR]}}, ["detail"]),
        ),
        "503": not_ready,
    }
    paths["/invocations"]["post"]["responses"] = {
        "200": _json("one prediction per row", _obj({"predictions": _PREDICTIONS}, ["predictions"])),
        "400": _json("not an MLflow dataframe payload, or invalid rows", _MLFLOW_ERROR),
        "413": too_big,
        "415": not_json,
        "503": not_ready,
    }
    if row is not None:
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Row"] = row
        ref = {"$ref": "#/components/schemas/Row"}
        rows = {"type": "array", "items": ref, "minItems": 1, "maxItems": max_batch}
        paths["/predict"]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"anyOf": [ref, rows]}}},
        }
        params = {"type": "object"}
        split = _obj(
            {
                "columns": {"type": "array", "items": _STR},
                "data": {"type": "array", "items": {"type": "array"}, "maxItems": max_batch},
            },
            ["columns", "data"],
        )
        payload = {
            "oneOf": [
                {**_obj({"dataframe_split": split, "params": params}, ["dataframe_split"]),
                 "additionalProperties": False},
                {**_obj({"dataframe_records": rows, "params": params}, ["dataframe_records"]),
                 "additionalProperties": False},
            ]
        }  # fmt: skip
        paths["/invocations"]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": payload}},
        }
    if api_key:
        schema.setdefault("components", {})["securitySchemes"] = {
            "APIKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        }
        for path, operations in paths.items():
            if path == "/health":
                continue
            for operation in operations.values():
                operation["security"] = [{"APIKey": []}]
                operation["responses"]["401"] = _json("missing or invalid X-API-Key header", _DETAIL)
    return schema
