"""The staged parts and the assembled output: every row once, in order; a dictionary only for
text columns (a classifier's labels, rejection reasons), never for predictions or ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelmill.batch.validate import REJECT_SCHEMA
from modelmill.batch.writer import Staging


def _dictionary_encoded(path: Path) -> dict[str, bool]:
    meta = pq.ParquetFile(path).metadata
    group = meta.row_group(0)
    return {group.column(i).path_in_schema: "RLE_DICTIONARY" in group.column(i).encodings
            for i in range(meta.num_columns)}  # fmt: skip


def test_predictions_are_assembled_in_order_and_only_text_is_dictionary_encoded(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("prediction", pa.string()), ("proba_yes", pa.float64())])
    staging = Staging(str(tmp_path / "out.parquet"), str(tmp_path / "rejects.parquet"))
    state, _ = staging.start({"job": 1}, resume=False)
    rng = np.random.default_rng(0)
    for chunk in range(3):
        ids = np.arange(chunk * 1000, (chunk + 1) * 1000)
        proba = rng.random(1000)
        out = pa.table({"id": ids, "prediction": np.where(proba > 0.5, "yes", "no"), "proba_yes": proba})
        reject = {"row": [chunk], "line": [chunk + 2], "id": [str(chunk)], "reason": ["price: missing"]}
        rejects = pa.table(reject, schema=REJECT_SCHEMA)
        staging.add_chunk(state, out, rejects, 1001)
    staging.finish(state, schema)
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.schema == schema and written["id"].to_pylist() == list(range(3000))
    encoded = _dictionary_encoded(tmp_path / "out.parquet")
    assert encoded == {"id": False, "prediction": True, "proba_yes": False}
    assert _dictionary_encoded(tmp_path / "rejects.parquet")["reason"]
    assert pq.read_table(tmp_path / "rejects.parquet")["row"].to_pylist() == [0, 1, 2]
