"""The rolling Parquet request log: schema, flush, size bound, failures (no server needed)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.dataset as ds
import pytest
from prometheus_client import generate_latest

from modelmill.serve.metrics import ServiceMetrics
from modelmill.serve.request_log import RequestLog
from modelmill.serve.schema import Column, build_request_model

COLUMNS = [
    Column("room_type", "string", True),
    Column("minimum_nights", "long", False),
    Column("latitude", "double", False),
]
Listing = build_request_model(COLUMNS)


def model(version: str = "3") -> Any:
    return SimpleNamespace(target=SimpleNamespace(name="nyc_rentals", version=version), columns=COLUMNS)


def rows(n: int) -> list[Any]:
    return [
        Listing.model_validate({"room_type": "Private room", "minimum_nights": i, "latitude": 40.7})
        for i in range(n)
    ]


def parts(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.parquet"))


def test_rows_are_written_with_a_stable_schema(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log", max_bytes=10**9, flush_rows=10**6)
    log.append(model(), rows(3), [10.0, 20.0, 30.0], "/predict")
    assert log.flush() == 3
    sparse = [Listing.model_validate({"room_type": "Shared room"})]  # absent fields are logged as null
    log.append(model("4"), sparse, [5.5], "/invocations")
    assert log.flush() == 1
    assert len(parts(tmp_path / "log")) == 2
    table = ds.dataset(tmp_path / "log", format="parquet").to_table().sort_by("timestamp")
    assert table.column_names == [
        "room_type", "minimum_nights", "latitude",
        "prediction", "timestamp", "model_name", "model_version", "endpoint", "role", "request_key",
        "latency_ms",
    ]  # fmt: skip
    assert table.num_rows == 4
    assert table["prediction"].to_pylist() == [10.0, 20.0, 30.0, 5.5]
    assert table["minimum_nights"].to_pylist() == [0, 1, 2, None]
    assert table["model_version"].to_pylist() == ["3", "3", "3", "4"]
    assert table["endpoint"].to_pylist()[-1] == "/invocations"
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert abs(table["timestamp"].to_pylist()[0].timestamp() - time.time()) < 60
    assert not list((tmp_path / "log").glob(".*"))  # no temp file left behind


def test_size_bound_deletes_the_oldest_parts(tmp_path: Path) -> None:
    log = RequestLog(tmp_path, max_bytes=1, flush_rows=10**6)  # smaller than any part
    written = []
    for i in range(4):
        log.append(model(str(i)), rows(5), [1.0] * 5, "/predict")
        log.flush()
        written.append(parts(tmp_path)[-1])
    assert parts(tmp_path) == [written[-1]]  # only the newest survives
    assert ds.dataset(tmp_path).to_table()["model_version"].to_pylist() == ["3"] * 5

    roomy = RequestLog(tmp_path / "roomy", max_bytes=10**9, flush_rows=10**6)
    for _ in range(3):
        roomy.append(model(), rows(5), [1.0] * 5, "/predict")
        roomy.flush()
    assert len(parts(tmp_path / "roomy")) == 3  # under the bound nothing is deleted


def test_background_thread_flushes_full_buffers_and_close_flushes_the_rest(tmp_path: Path) -> None:
    log = RequestLog(tmp_path, max_bytes=10**9, flush_rows=4, flush_interval=60)
    log.start()
    try:
        log.append(model(), rows(5), [1.0] * 5, "/predict")  # over flush_rows: wakes the flusher
        deadline = time.monotonic() + 10
        while not parts(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(parts(tmp_path)) == 1
        log.append(model(), rows(2), [1.0] * 2, "/predict")  # under flush_rows, interval 60 s
    finally:
        log.close()
    assert ds.dataset(tmp_path).to_table().num_rows == 7


def test_a_failed_write_is_counted_and_dropped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    metrics = ServiceMetrics()
    log = RequestLog(blocker / "log", max_bytes=10**9, flush_rows=10**6, metrics=metrics)
    log.append(model(), rows(3), [1.0] * 3, "/predict")
    assert log.flush() == 0
    assert log.flush() == 0  # the failed rows are not retried forever
    text = generate_latest(metrics.registry).decode()
    assert "modelmill_request_log_errors_total 1.0" in text
    assert "modelmill_request_log_dropped_rows_total 3.0" in text


def test_buffer_is_bounded_when_nothing_flushes(tmp_path: Path) -> None:
    metrics = ServiceMetrics()
    log = RequestLog(tmp_path, max_bytes=10**9, flush_rows=1, metrics=metrics)
    log.max_buffered = 10
    for _ in range(4):
        log.append(model(), rows(3), [1.0] * 3, "/predict")
    assert log.flush() == 9
    assert "modelmill_request_log_dropped_rows_total 3.0" in generate_latest(metrics.registry).decode()


@pytest.mark.parametrize("kind", ["integer", "float", "boolean"])
def test_every_signature_type_has_a_parquet_type(tmp_path: Path, kind: str) -> None:
    columns = [Column("x", kind, False)]
    listing = build_request_model(columns)
    value = {"integer": 3, "float": 1.5, "boolean": True}[kind]
    entry = SimpleNamespace(target=SimpleNamespace(name="m", version="1"), columns=columns)
    log = RequestLog(tmp_path, max_bytes=10**9)
    log.append(entry, [listing.model_validate({"x": value}), listing.model_validate({})], [1.0, 2.0], "/p")
    assert log.flush() == 2
    assert ds.dataset(tmp_path).to_table()["x"].to_pylist() == [value, None]
