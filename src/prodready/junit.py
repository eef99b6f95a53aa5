"""JUnit XML for CI: one test case per checklist question, so CI shows the checklist natively.

FAIL becomes a <failure>, ERROR an <error>, SKIPPED and NOT ASSESSED a <skipped> (with the
reason), WARN a passing case whose output says WARN. The readiness verdict itself is the
CLI's exit code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from prodready.checklist import get_question
from prodready.results import Assessment, Status

__all__ = ["junit_xml", "write_junit"]


def junit_xml(assessment: Assessment) -> str:
    """The JUnit XML document for an assessment."""
    counts = {s: 0 for s in Status}
    for f in assessment.findings:
        counts[f.status] += 1
    suite = ET.Element(
        "testsuite",
        {
            "name": f"prodready: {assessment.system.get('name', '')}",
            "tests": str(len(assessment.findings)),
            "failures": str(counts[Status.FAIL]),
            "errors": str(counts[Status.ERROR]),
            "skipped": str(counts[Status.SKIPPED] + counts[Status.NOT_ASSESSED]),
            "time": f"{sum(f.duration_s for f in assessment.findings):.3f}",
            "timestamp": assessment.created,
        },
    )
    for f in assessment.findings:
        q = get_question(f.question)
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"prodready.{q.section.value}",
                "name": f"{q.id} {q.text}",
                "time": f"{f.duration_s:.3f}",
            },
        )
        if f.status is Status.FAIL:
            ET.SubElement(case, "failure", {"message": f.summary, "type": "FAIL"}).text = _details(
                f.summary, f.remediation
            )
        elif f.status is Status.ERROR:
            ET.SubElement(case, "error", {"message": f.summary, "type": "ERROR"}).text = (
                f.error or f.summary
            )
        elif f.status in (Status.SKIPPED, Status.NOT_ASSESSED):
            ET.SubElement(case, "skipped", {"message": f"{f.status.label}: {f.summary}"})
        ET.SubElement(case, "system-out").text = f"{f.status.label}: {f.summary}"
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode")


def write_junit(assessment: Assessment, path: str | Path) -> Path:
    """Write the JUnit XML to ``path`` (atomically) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(junit_xml(assessment) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _details(summary: str, remediation: str) -> str:
    return summary + (f"\nWhat to do: {remediation}" if remediation else "")
