"""``retrain --schedule``: how to run the weekly job unattended (cron, GitHub Actions).

The job is one command whose exit code is the decision's (0 promoted or kept, 1 stopped
by the data check), so any scheduler can alert on failure without parsing output.
"""

from __future__ import annotations

CRON = "0 6 * * 1"  # Mondays 06:00
CRON_LINE = (
    f"{CRON} cd /srv/myproject && .venv/bin/modelmill retrain /data/incoming/latest.csv >> retrain.log 2>&1"
)
WORKFLOW_HEADER = "# GitHub Actions: .github/workflows/retrain.yml"

WORKFLOW = f"""\
name: weekly-retrain
on:
  schedule:
    - cron: "{CRON}"
  workflow_dispatch:
    inputs:
      batch:
        description: "path or URL of the new batch"
        required: false
        default: data/incoming/latest.csv
jobs:
  retrain:
    runs-on: ubuntu-latest
    env:
      MODELMILL_HOME: ${{{{ github.workspace }}}}/.modelmill
      BATCH: ${{{{ github.event.inputs.batch || 'data/incoming/latest.csv' }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      # the workspace (store, index, mlflow.db, mlruns) must persist between weeks:
      # restore it here (cache or a mounted volume), or point main.tracking_uri at a server
      - uses: actions/cache@v4
        with:
          path: .modelmill
          key: modelmill-workspace-${{{{ github.run_id }}}}
          restore-keys: modelmill-workspace-
      - run: pip install .
      - name: retrain (exit 1 = stopped by data check)
        shell: bash  # pipefail: the job fails with retrain's exit code, not tee's
        run: modelmill retrain "$BATCH" --json | tee retrain.json
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: retrain-${{{{ github.run_id }}}}
          path: |
            retrain.json
            .modelmill/mlruns
"""


def schedule_text() -> str:
    """The documentation ``retrain --schedule`` prints: a crontab line, then a workflow file."""
    return (
        "# The weekly retrain job. Exit codes: 0 promoted or kept prod, 1 stopped by the data check,\n"
        "# 2 bad input/config, 3 another step failed. One decision line on stdout (--json: a document).\n"
        "#\n"
        "# cron (crontab -e): every Monday at 06:00\n"
        f"{CRON_LINE}\n"
        "\n"
        f"{WORKFLOW_HEADER}\n"
        f"{WORKFLOW}"
    )
