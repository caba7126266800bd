"""The request schema built from an MLflow signature, and requests to typed frames."""

from __future__ import annotations

import pytest
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema
from pydantic import ValidationError

from modelmill.serve.schema import (
    build_request_model,
    columns_from_signature,
    example_records,
    records_from_split,
    to_frame,
)
from modelmill.serve.settings import parse_model_spec

SIGNATURE = ModelSignature(
    inputs=Schema([
        ColSpec(DataType.string, "name", required=False),
        ColSpec(DataType.double, "latitude", required=False),
        ColSpec(DataType.long, "minimum_nights", required=False),
        ColSpec(DataType.string, "room_type", required=True),
    ])
)  # fmt: skip
COLUMNS = columns_from_signature(SIGNATURE)
Listing = build_request_model(COLUMNS)


def test_types_nullability_and_extra_fields() -> None:
    row = Listing.model_validate(
        {"room_type": "Private room", "name": None, "latitude": 40, "minimum_nights": 2}
    )
    assert row.model_dump(by_alias=True) == {"name": None, "latitude": 40.0, "minimum_nights": 2,
                                             "room_type": "Private room"}  # fmt: skip
    for bad, field in [
        ({"room_type": "x", "minimum_nights": None}, "minimum_nights"),  # longs are not nullable
        ({"room_type": "x", "minimum_nights": "2"}, "minimum_nights"),  # no string coercion
        ({"room_type": "x", "latitude": "40.7"}, "latitude"),
        ({"room_type": "x", "other": 1}, "other"),  # extra="forbid"
        ({}, "room_type"),  # required column
    ]:
        with pytest.raises(ValidationError) as info:
            Listing.model_validate(bad)
        assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_to_frame_keeps_signature_order_and_dtypes() -> None:
    rows = [Listing.model_validate({"room_type": "a", "minimum_nights": 3, "latitude": None}),
            Listing.model_validate({"room_type": "b", "minimum_nights": 1, "name": "x"})]  # fmt: skip
    frame = to_frame(rows, COLUMNS)
    assert list(frame.columns) == ["name", "latitude", "minimum_nights", "room_type"]
    assert str(frame["minimum_nights"].dtype) == "int64" and str(frame["latitude"].dtype) == "float64"
    assert frame["name"].tolist() == [None, "x"]
    partial = to_frame([{"room_type": "a", "minimum_nights": 1}, {"room_type": "b"}], COLUMNS)
    assert str(partial["minimum_nights"].dtype) == "float64" and "latitude" not in partial


def test_dataframe_split_and_examples() -> None:
    assert records_from_split({"columns": ["a", "b"], "data": [[1, 2]]}) == [{"a": 1, "b": 2}]
    with pytest.raises(ValueError, match="row 0"):
        records_from_split({"columns": ["a", "b"], "data": [[1]]})
    assert example_records(None, COLUMNS) == [{"room_type": ""}]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("models:/nyc_rentals@prod", ("registry", "nyc_rentals", "prod", None)),
        ("models:/nyc_rentals/3", ("registry", "nyc_rentals", None, "3")),
        ("random_forest_export:v3", ("artifact", "random_forest_export", None, "3")),
        ("random_forest_export:prod", ("artifact", "random_forest_export", "prod", None)),
    ],
)
def test_model_specs(spec: str, expected: tuple[str | None, ...]) -> None:
    assert parse_model_spec(spec) == dict(zip(("kind", "name", "alias", "version"), expected, strict=True))


@pytest.mark.parametrize("spec", ["/tmp/model", "./model", "file:///tmp/m", "runs:/abc/model", "models:/x"])
def test_paths_and_other_uris_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="paths are not accepted"):
        parse_model_spec(spec)
