"""The data-check report: a JSON document and a self-contained HTML page (inline CSS, no scripts):
every test with its statistic and threshold, offending rows of failures, and the reference vs
current distributions side by side (category shares of the KL tests, binned KS columns; inline
SVG).

Both are deterministic for equal inputs (no timestamps), so an unchanged check stores the
same report version and leaves downstream steps cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from modelmill.reports import bar_chart, compare_histograms, layout
from modelmill.validation.checks import CheckResult

CSS = layout.CSS  # one look for every report (modelmill.reports)


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
    """One line: how many tests failed, then each failed test's message (naming statistic or rows,
    threshold and fix) after ``|``; '' if none failed. One line because it ends up as the CLI's
    ``error:`` line and in retrain's decision line."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return ""
    return f"{len(failed)} of {len(results)} data tests failed: " + " | ".join(r.message for r in failed)


_fmt = layout.fmt
_table = layout.table


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


def _distributions(tests: Sequence[Mapping[str, Any]]) -> str:
    """Reference vs current side by side: category shares (KL tests), binned shares (KS tests)."""
    cards = []
    for test in tests:
        details = test.get("details") or {}
        if shares := details.get("shares"):
            names = list(shares)
            chart = bar_chart(names, {"reference": [shares[n]["reference"] for n in names],
                                      "current": [shares[n]["new"] for n in names]},
                              label=test["name"], xlabel="share (smoothed)")  # fmt: skip
            cards.append(layout.card(test["name"], chart))
        if hist := details.get("histogram"):
            sides = {"reference": hist["reference"], "current": hist["new"]}
            chart = compare_histograms(hist["edges"], sides, xlabel=test["name"][3:], label=test["name"])
            outside = hist.get("outside_reference", 0), hist.get("outside_new", 0)
            note = (f'<p class="muted">outside the plotted range: {outside[0]} reference, {outside[1]} '
                    "current values</p>" if any(outside) else "")  # fmt: skip
            cards.append(layout.card(f"{test['name']} {'pass' if test['passed'] else 'FAIL'}", chart + note))
    if not cards:
        return ""
    return layout.section(
        "Reference vs current", f'<div class="grid">{"".join(cards)}</div>', "distributions"
    )


def _param(key: str, value: Any) -> Any:
    """A param as the page shows it: the spec's column table by its names (the JSON has it all)."""
    if key == "columns" and isinstance(value, list):
        return f"{len(value)} declared: " + ", ".join(
            str(c.get("name")) for c in value if isinstance(c, dict)
        )
    return value


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one standalone HTML page."""
    summary = report["summary"]
    ok = report["status"] == "passed"
    meta = {"sample": report.get("sample"), "reference": report.get("reference") or "none",
            **{k: _param(k, v) for k, v in report.get("params", {}).items()}}  # fmt: skip
    notes = layout.bullet_list(report.get("notes", []))
    rows = "".join(_test_row(t) for t in report["tests"])
    body = (
        f"<p>{summary['passed']} of {summary['total']} tests passed, {summary['failed']} failed.</p>"
        + layout.definition_list(meta)
        + (layout.section("Notes", notes) if notes else "")
        + layout.section(
            "Tests",
            "<table><tr><th>Test</th><th>Kind</th><th>Result</th><th>Statistic</th>"
            f"<th>Threshold</th><th>Details</th></tr>{rows}</table>",
        )
        + _distributions(report["tests"])
    )
    return layout.page(f"Data check: {report['status']}", body, heading="Data check " + layout.badge(ok))


def write_report(report: Mapping[str, Any], directory: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``directory`` (created); return both paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
