"""``modelmill retrain``: one decision line per weekly batch, and prod moves only through the gate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

import modelmill
from modelmill.cli import app
from modelmill.lifecycle.schedule import WORKFLOW_HEADER

from .test_weekly_retraining import FAST, MODEL, _batch, _registry_prod


def _aliases(ws: modelmill.Workspace) -> dict[str, str]:
    return {
        a: ws.store.resolve(f"{n}:{a}").ref for n, a in ((MODEL, "prod"), ("clean_sample.csv", "reference"))
    }


def test_retrain_promotes_through_the_gate_and_stops_on_bad_data(
    tmp_path: Path, _isolated_home: Path
) -> None:
    ws = modelmill.open_workspace()
    first = CliRunner().invoke(app, ["retrain", str(_batch(tmp_path / "w1.csv", seed=11)), *FAST])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().splitlines() == [
        f"promoted {MODEL}:v0 (test MAE {_mae(ws, 0)}, no prod before)"
    ]

    # a clean batch: the gate compares the candidate with prod and the line says which way it went
    clean = CliRunner().invoke(app, ["retrain", str(_batch(tmp_path / "w2.csv", seed=12)), *FAST, "--json"])
    assert clean.exit_code == 0, clean.output
    doc = json.loads(clean.stdout)
    promotion = json.loads(ws.store.read_text("promotion:latest"))
    assert doc["candidate"] == f"{MODEL}:v1" and doc["run_id"]
    assert doc["decision"] == ("promoted" if promotion["promoted"] else "kept")
    expected_prod = f"{MODEL}:v1" if promotion["promoted"] else f"{MODEL}:v0"
    assert doc["prod"] == expected_prod == ws.store.resolve(f"{MODEL}:prod").ref
    assert _registry_prod(_isolated_home) == expected_prod
    evaluation = json.loads(ws.store.read_text("evaluation:latest"))  # both scored on this week's split
    cand, prod = (f"{evaluation[k]['mae']:.4g}" for k in ("candidate", "prod"))
    if promotion["promoted"]:
        assert doc["line"] == f"promoted {MODEL}:v1 (test MAE {cand} < prod {prod})"
    else:
        assert doc["line"] == f"kept prod {MODEL}:v0 (candidate MAE {cand} >= prod {prod})"
    assert doc["metrics"]["test_mae"] == promotion["candidate_value"]

    # an unseen borough: stopped at the data check, exit 1, nothing promoted, no alias moved
    before, versions = _aliases(ws), [v.ref for v in ws.store.versions(MODEL)]
    bad = _batch(tmp_path / "w3.csv", seed=13, unknown_groups=3)
    stopped = CliRunner().invoke(app, ["retrain", str(bad), *FAST])
    assert stopped.exit_code == 1
    line = stopped.stdout.strip()
    assert line.startswith("stopped by data check: ") and "\n" not in line
    assert "neighbourhood_group" in line and "Long Island" in line
    assert _aliases(ws) == before
    assert [v.ref for v in ws.store.versions(MODEL)] == versions
    assert _registry_prod(_isolated_home) == before["prod"]
    as_json = json.loads(CliRunner().invoke(app, ["retrain", str(bad), *FAST, "--json"]).stdout)
    assert as_json["decision"] == "stopped" and as_json["candidate"] is None


def _mae(ws: modelmill.Workspace, version: int) -> str:
    """The test MAE of a model version as the decision line prints it."""
    for v in reversed(ws.store.versions("evaluation")):
        doc = json.loads(ws.store.read_text(v.ref))
        if doc["candidate"]["ref"] == f"{MODEL}:v{version}":
            return f"{doc['candidate']['mae']:.4g}"
    raise AssertionError(f"no evaluation of {MODEL}:v{version}")


def test_retrain_usage_errors(tmp_path: Path, _isolated_home: Path) -> None:
    missing = CliRunner().invoke(app, ["retrain", str(tmp_path / "nope.csv"), *FAST])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    clash = CliRunner().invoke(app, ["retrain", str(_batch(tmp_path / "b.csv", seed=3)), "main.steps=train"])
    assert clash.exit_code == 2 and "main.steps" in clash.stderr
    assert CliRunner().invoke(app, ["retrain"]).exit_code == 2


_FIELD = r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*"
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _valid_cron(expr: str) -> bool:
    fields = expr.split()
    if len(fields) != 5 or not all(re.fullmatch(_FIELD, f) for f in fields):
        return False
    return all(
        lo <= int(n) <= hi for f, (lo, hi) in zip(fields, _RANGES, strict=True) for n in re.findall(r"\d+", f)
    )


def test_schedule_documents_cron_and_github_actions() -> None:
    out = CliRunner().invoke(app, ["retrain", "--schedule"])
    assert out.exit_code == 0
    cron_lines = [ln for ln in out.stdout.splitlines() if ln and not ln.startswith("#") and "retrain" in ln]
    assert cron_lines, out.stdout
    cron = cron_lines[0]
    assert _valid_cron(" ".join(cron.split()[:5])) and "modelmill retrain " in cron
    assert not _valid_cron("61 6 * * 1") and not _valid_cron("0 6 * *")
    workflow = yaml.safe_load(out.stdout.split(WORKFLOW_HEADER, 1)[1])
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert _valid_cron(triggers["schedule"][0]["cron"]) and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["retrain"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout") for u in uses)
    assert any(u.startswith("actions/setup-python") for u in uses)
    assert any("pip install" in s.get("run", "") for s in steps)
    assert any("modelmill retrain" in s.get("run", "") for s in steps)
