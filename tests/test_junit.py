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


HOSTILE = "\x1b[2J\x1b[HREADY\x07\x00"


def test_hostile_names_cannot_make_the_xml_ill_formed(tmp_path: Path) -> None:
    a = sample()
    a.system["name"] = HOSTILE
    a.created = "2026\x0c-11-25"
    a.findings[0] = Finding(
        question="Q1",
        status=Status.FAIL,
        summary=f"feature {HOSTILE} \ud800 \ufffe\uffff \x85 drifted",
        remediation="drop\x0bit",
    )
    a.findings[1] = Finding(
        question="Q2", status=Status.ERROR, summary="crashed", error="Traceback\n\tline\x1b[31m"
    )
    path = write_junit(a, tmp_path / "junit.xml")
    raw = path.read_bytes().decode("utf-8")  # valid UTF-8: no lone surrogate made it in
    assert not set(raw) & {*"\x00\x07\x0b\x0c\x1b\x85\ud800\ufffe\uffff"}
    suite = ET.parse(path).getroot()  # well-formed XML 1.0
    assert suite.get("name") == "prodready: \\x1b[2J\\x1b[HREADY\\x07\\x00"
    assert suite.get("timestamp") == "2026\\x0c-11-25"
    failure = suite.findall("testcase")[0].find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "feature \\x1b[2J\\x1b[HREADY\\x07\\x00 \\ud800 \\ufffe\\uffff \\x85 drifted"
    )
    assert (failure.text or "").endswith("What to do: drop\\x0bit")
    error = suite.findall("testcase")[1].find("error")
    assert error is not None and error.text == "Traceback\n\tline\\x1b[31m"  # \n and \t kept


def test_junit_does_not_follow_a_planted_temporary_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "junit.xml.tmp").symlink_to(victim)
    ET.parse(write_junit(sample(), tmp_path / "junit.xml"))
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "junit.xml.tmp", "victim"]
