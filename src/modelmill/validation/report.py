"""The data-check report: a JSON document and a self-contained HTML page (inline CSS, no scripts).

Both are deterministic for equal inputs (no timestamps), so an unchanged check stores the
same report version and leaves downstream steps cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from modelmill.validation.checks import CheckResult

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328;max-width:80rem}
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;font-weight:600;font-size:.85rem}
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.failed td{background:#fff8f7}
code,.num{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
details{margin-top:.3rem}summary{cursor:pointer;color:#0969da}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
"""


def build_report(
    results: Sequence[CheckResult],
    *,
    sample: str | None = None,
    reference: str | None = None,
    params: Mapping[str, Any] | None = None,
    notes: Iterable[str] = (),
) -> dict[str, Any]:
    """The report document: status, counts, inputs, notes and every test result."""
    failed = [r.name for r in results if not r.passed]
    return {
        "status": "failed" if failed else "passed",
        "summary": {"total": len(results), "passed": len(results) - len(failed), "failed": len(failed)},
        "failed_tests": failed,
        "sample": sample,
        "reference": reference,
        "params": dict(params or {}),
        "notes": list(notes),
        "tests": [r.to_dict() for r in results],
    }


def failure_message(results: Sequence[CheckResult]) -> str:
    """One line per failed test (its message names statistic/rows and threshold); '' if none failed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return ""
    lines = [f"{len(failed)} of {len(results)} data tests failed:"]
    lines += [f"  - {r.message}" for r in failed]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A small HTML table of records (offending rows, category shares)."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td class=num>{escape(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _test_row(test: Mapping[str, Any]) -> str:
    ok = bool(test["passed"])
    extra = ""
    if test["offending"]:
        shown, total = len(test["offending"]), test["n_offending"]
        extra += (f"<details{'' if ok else ' open'}><summary>offending rows ({shown} of {total})</summary>"
                  f"{_table(test['offending'])}</details>")  # fmt: skip
    shares = test.get("details", {}).get("shares")
    if shares:
        rows = [{"category": k, **v} for k, v in shares.items()]
        extra += f"<details><summary>shares (smoothed)</summary>{_table(rows)}</details>"
    badge = '<span class="badge pass">pass</span>' if ok else '<span class="badge fail">FAIL</span>'
    cells = [
        f"<code>{escape(test['name'])}</code>",
        escape(test["kind"]),
        badge,
        f"<span class=num>{escape(_fmt(test['statistic']))}</span>",
        f"<span class=num>{escape(_fmt(test['threshold']))}</span>",
        escape(test["message"]) + extra,
    ]
    return f"<tr class={'passed' if ok else 'failed'}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one standalone HTML page."""
    summary = report["summary"]
    ok = report["status"] == "passed"
    badge = f'<span class="badge {"pass" if ok else "fail"}">{"PASSED" if ok else "FAILED"}</span>'
    meta = {"sample": report.get("sample"), "reference": report.get("reference") or "none",
            **{k: v for k, v in report.get("params", {}).items()}}  # fmt: skip
    dl = "".join(f"<dt>{escape(k)}</dt><dd><code>{escape(_fmt(v))}</code></dd>" for k, v in meta.items())
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.get("notes", []))
    rows = "".join(_test_row(t) for t in report["tests"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data check: {escape(report["status"])}</title><style>{CSS}</style></head>
<body>
<h1>Data check {badge}</h1>
<p>{summary["passed"]} of {summary["total"]} tests passed, {summary["failed"]} failed.</p>
<dl>{dl}</dl>
{f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
<h2>Tests</h2>
<table><tr><th>Test</th><th>Kind</th><th>Result</th><th>Statistic</th><th>Threshold</th><th>Details</th></tr>
{rows}
</table>
</body></html>
"""


def write_report(report: Mapping[str, Any], directory: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``directory`` (created); return both paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
