"""JUnit XML: one test case per question, statuses mapped so CI shows the checklist."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from prodready import Finding, Status
from prodready.junit import write_junit
from tests.test_results import sample


def test_one_case_per_question_with_mapped_statuses(tmp_path: Path) -> None:
    a = sample()
    a.findings[0] = Finding(
        question="Q1", status=Status.FAIL, summary="p99 too slow", remediation="scale out"
    )
    a.findings[1] = Finding(
        question="Q2", status=Status.ERROR, summary="crashed", error="Traceback ..."
    )
    a.findings[3] = Finding(question="Q4", status=Status.SKIPPED, summary="no registry")
    suite = ET.parse(write_junit(a, tmp_path / "out" / "junit.xml")).getroot()
    cases = suite.findall("testcase")
    assert len(cases) == 10
    assert suite.get("tests") == "10" and suite.get("failures") == "1"
    assert suite.get("errors") == "1" and suite.get("skipped") == "7"
    assert cases[0].get("name") == "Q1 Can the system handle 10x current load without degradation?"
    assert cases[0].get("classname") == "prodready.technical"
    failure = cases[0].find("failure")
    assert failure is not None and "What to do: scale out" in (failure.text or "")
    assert cases[1].find("error") is not None
    assert cases[2].find("failure") is None and cases[2].find("skipped") is None  # WARN passes
    skipped = cases[4].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("NOT ASSESSED")
