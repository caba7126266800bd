"""data_check: deterministic tests on the clean sample, statistical tests against the reference.

The first sample that passes every deterministic test while no reference exists becomes
``clean_sample.csv:reference``. Later samples are also compared with that reference (KL
divergence of the borough mix, Kolmogorov-Smirnov per numeric column; see
:mod:`modelmill.validation.stats`). The report (``report.json`` + ``report.html``) is the
output directory ``data_check_report``; any failed test fails the step with a
:class:`~modelmill.core.errors.DataCheckError` listing each failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmill.core.errors import DataCheckError
from modelmill.datasets.io import read_listings
from modelmill.validation.checks import run_checks
from modelmill.validation.report import build_report, failure_message, write_report
from modelmill.validation.stats import run_stats

if TYPE_CHECKING:
    from modelmill.runner import StepContext

SAMPLE = "clean_sample.csv"
REFERENCE = "clean_sample.csv:reference"
OUTPUT = "data_check_report"


def run(ctx: StepContext) -> None:
    """Write ``data_check_report/`` and log pass/fail counts; raise if any test failed."""
    p = ctx.params
    frame = read_listings(ctx.input(SAMPLE))
    version = ctx.input_version(SAMPLE)
    assert version is not None  # a required input always resolves
    results = run_checks(frame, p)
    notes: list[str] = []
    reference_ref = None
    set_reference = False
    replaces_demo = _replaces_demo_reference(ctx)
    if replaces_demo and all(r.passed for r in results):
        set_reference = True
        notes.append(f"the reference {replaces_demo} was generated demo data; {version.ref} comes from a "
                     f"real source, passed every deterministic test and becomes {REFERENCE}")  # fmt: skip
    elif replaces_demo:
        notes.append(f"the reference {replaces_demo} is generated demo data and this sample is real: "
                     "statistical tests skipped; the sample failed, so the reference stays")  # fmt: skip
    elif ctx.has_input(REFERENCE):
        ref_version = ctx.input_version(REFERENCE)
        reference_ref = ref_version.ref if ref_version else None
        results += run_stats(frame, read_listings(ctx.input(REFERENCE)), p["kl_threshold"], p["ks_alpha"])
        if reference_ref == version.ref:
            notes.append(
                f"{version.ref} is itself the reference: the statistical tests compare it with itself"
            )
    elif all(r.passed for r in results):
        set_reference = True
        notes.append(f"no reference existed: {version.ref} passed every deterministic test and is now "
                     f"{REFERENCE}; statistical tests start with the next sample")  # fmt: skip
    else:
        notes.append("no reference exists and this sample failed, so none was set; statistical tests skipped")

    report = build_report(results, sample=version.ref, reference=reference_ref, params=p, notes=notes)
    out = ctx.output(OUTPUT)
    _, html_path = write_report(report, out)
    summary = report["summary"]
    metrics = {"tests_passed": summary["passed"], "tests_failed": summary["failed"]}
    kl = next((r.statistic for r in results if r.name.startswith("kl_")), None)
    if kl is not None:
        metrics["kl_divergence"] = kl
    ctx.log_metrics(metrics)
    ctx.log_artifact(html_path, OUTPUT)
    ctx.set_metadata(OUTPUT, status=report["status"], sample=version.ref, reference=reference_ref,
                     failed_tests=report["failed_tests"], **summary)  # fmt: skip
    for line in notes:
        ctx.log.info(line)
    if report["failed_tests"]:
        raise DataCheckError(failure_message(results))
    if set_reference:
        why = "replaces a demo-data reference" if replaces_demo else "first sample passing data_check"
        ctx.store.set_alias(version.ref, "reference", note=f"{why} (run {ctx.run_id})")


def _replaces_demo_reference(ctx: StepContext) -> str | None:
    """The reference's ref when it is demo data and this sample is not (demo never judges real data)."""
    reference, current = ctx.input_version(REFERENCE), ctx.input_version(SAMPLE)
    if reference is None or current is None:
        return None
    is_demo = [v.metadata.get("source") == "demo" for v in (reference, current)]
    return reference.ref if is_demo == [True, False] else None
