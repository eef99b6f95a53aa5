"""JUnit XML for CI: one test case per checklist question, so CI shows the checklist natively.

FAIL becomes a <failure>, ERROR an <error>, SKIPPED and NOT ASSESSED a <skipped> (with the
reason), WARN a passing case whose output says WARN. The readiness verdict itself is the
CLI's exit code.

Every attribute and text is made safe first: characters XML 1.0 forbids (most control
characters, lone surrogates, U+FFFE/U+FFFF), and the C1 controls it discourages, are written as
visible escapes such as ``\\x1b``, so a name from the user's data can neither make the file
ill-formed nor carry a terminal escape sequence into a CI log.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from prodready._files import atomic_write
from prodready.checklist import get_question
from prodready.results import Assessment, Status

__all__ = ["junit_xml", "write_junit", "xml_safe"]


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
    _make_safe(suite)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode")


def write_junit(assessment: Assessment, path: str | Path) -> Path:
    """Write the JUnit XML to ``path`` (atomically) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, junit_xml(assessment) + "\n")


# XML 1.0 forbids C0 controls but tab, newline and carriage return, lone surrogates, U+FFFE and
# U+FFFF; it discourages DEL and the C1 controls (which some terminals obey, e.g. U+009B).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids or discourages written as an escape."""
    return _NOT_XML.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _make_safe(root: ET.Element) -> None:
    for element in root.iter():
        if element.text:
            element.text = xml_safe(element.text)
        if element.tail:
            element.tail = xml_safe(element.tail)
        for key, value in list(element.attrib.items()):
            element.attrib[key] = xml_safe(value)


def _details(summary: str, remediation: str) -> str:
    return summary + (f"\nWhat to do: {remediation}" if remediation else "")
