"""data_check: the spec's deterministic tests on the clean sample, statistical tests against the reference.

The tests are generated from the dataset spec (``params`` = :meth:`DatasetSpec.check_params
<modelmill.datasets.spec.DatasetSpec.check_params>` plus the ``data_check`` thresholds; see
:mod:`modelmill.validation.checks` and :mod:`modelmill.validation.stats`).

The first sample that passes every deterministic test while no reference exists becomes
``clean_sample.csv:reference``. Later samples are also compared with that reference (KL
divergence and chi-square per categorical column, Kolmogorov-Smirnov per numeric column,
Holm-corrected), and columns declared ``allowed: reference`` must hold the reference's
categories. Generated demo data never judges a real sample: a real sample replaces a demo
reference when it passes. The report (``report.json`` + ``report.html``) is the output
directory ``data_check_report``; any failed test fails the step with a
:class:`~modelmill.core.errors.DataCheckError` listing each failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelmill.core.errors import DataCheckError
from modelmill.datasets.io import read_stored_table
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
    frame = read_stored_table(ctx.input(SAMPLE))
    version = ctx.input_version(SAMPLE)
    assert version is not None  # a required input always resolves
    replaces_demo = _replaces_demo_reference(ctx)
    judging = ctx.has_input(REFERENCE) and not replaces_demo
    reference = read_stored_table(ctx.input(REFERENCE)) if judging else None
    results = run_checks(frame, p, reference)
    notes: list[str] = []
    reference_ref = None
    set_reference = False
    if replaces_demo and all(r.passed for r in results):
        set_reference = True
        notes.append(f"the reference {replaces_demo} was generated demo data; {version.ref} comes from a "
                     f"real source, passed every deterministic test and becomes {REFERENCE}")  # fmt: skip
    elif replaces_demo:
        notes.append(f"the reference {replaces_demo} is generated demo data and this sample is real: "
                     "statistical tests skipped; the sample failed, so the reference stays")  # fmt: skip
    elif reference is not None:
        ref_version = ctx.input_version(REFERENCE)
        reference_ref = ref_version.ref if ref_version else None
        results += run_stats(frame, reference, p)
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
    metrics: dict[str, Any] = {"tests_passed": summary["passed"], "tests_failed": summary["failed"]}
    kl = next((r.statistic for r in results if r.name.startswith("kl_")), None)
    if kl is not None:  # the first categorical column's (the mix of its categories)
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
        # a declared effect: moved with the report's storage, replayed when this step is a cache hit
        ctx.set_alias(SAMPLE, "reference", note=f"{why} (run {ctx.run_id})")


def _replaces_demo_reference(ctx: StepContext) -> str | None:
    """The reference's ref when it is demo data and this sample is not (demo never judges real data)."""
    reference, current = ctx.input_version(REFERENCE), ctx.input_version(SAMPLE)
    if reference is None or current is None:
        return None
    is_demo = [v.metadata.get("source") == "demo" for v in (reference, current)]
    return reference.ref if is_demo == [True, False] else None
