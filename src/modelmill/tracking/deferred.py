"""Entry point of the detached process that logs a fully cached execution to MLflow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from modelmill.tracking.mlflow_tracker import replay


def main(spool: str) -> None:
    """Replay the spooled execution, then delete the spool file and its log."""
    path = Path(spool)
    replay(json.loads(path.read_text()))
    path.unlink(missing_ok=True)
    path.with_suffix(".log").unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1])
