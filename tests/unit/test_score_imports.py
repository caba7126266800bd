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


def test_the_command_line_imports_neither_hydra_nor_the_executor_before_a_verb_needs_them() -> None:
    """Every verb imports the CLI; the runner's package loads its names lazily, so the CLI
    (which needs only :mod:`modelmill.runner.interrupt`) does not pull in the executor, the
    cache or Hydra (0.1 s), and ``score`` composes the config only when it needs it."""
    lazy = ("hydra", "omegaconf", "modelmill.runner.executor", "modelmill.runner.cache")
    code = f"import sys\nimport modelmill.cli\nprint(sorted(m for m in {lazy!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
    names = "from modelmill.runner import Executor, Pipeline, provenance, step; print(Executor.__name__)"
    result = subprocess.run([sys.executable, "-c", names], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "Executor"
