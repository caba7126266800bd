"""``modelmill score`` on the ONNX runtime must not import scikit-learn, SciPy or MLflow: they
cost seconds of start-up on every job (the feeds' value helpers live in
:mod:`modelmill.features.values` for that reason). No timing here: only what gets imported."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "mlflow", "skops")


def test_the_onnx_scoring_path_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import modelmill\n"
        "import modelmill.batch.scorer, modelmill.features.onnx, modelmill.registry.predictor\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
