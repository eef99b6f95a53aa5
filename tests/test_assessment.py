"""The assessment runner and scoring, with deliberately broken probes."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import prodready.probes as probes_module
from prodready import (
    QUESTIONS,
    Check,
    Finding,
    Probe,
    ProbeContext,
    Status,
    System,
    assess,
    score,
)
from prodready.system import Policy


@pytest.fixture
def system(binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]) -> System:
    ref, cur = binary_data
    return System(
        model=binary_model,
        reference=ref,
        current=cur,
        target="target",
        name="fixture",
        policy=Policy(probe_timeout_s=2.0),
    )


class Passing(Probe):
    question = "Q1"

    def run(self, system: System, context: ProbeContext) -> Finding:
        return Finding(question="Q1", status=Status.PASS, summary="all good")


class Crashing(Probe):
    question = "Q2"

    def run(self, system: System, context: ProbeContext) -> Finding:
        raise RuntimeError("boom in the probe")


class Sleeping(Probe):
    """Ignores its deadline: the runner must stop waiting for it."""

    question = "Q4"

    def run(self, system: System, context: ProbeContext) -> Finding:
        time.sleep(30)
        raise AssertionError("unreachable in the test")


class WrongReturn(Probe):
    question = "Q6"

    def run(self, system: System, context: ProbeContext) -> Any:
        return "PASS"


class Partial(Probe):
    """Passes what it checks but leaves part of its question unassessed."""

    question = "Q7"

    def run(self, system: System, context: ProbeContext) -> Finding:
        return Finding(
            question="Q7", status=Status.PASS, summary="half done", not_assessed=["the other half"]
        )


class NotApplicable(Probe):
    """A question that does not apply to this system."""

    question = "Q9"

    def run(self, system: System, context: ProbeContext) -> Finding:
        return self.skipped("not applicable here")


def test_broken_probes_become_errors_and_others_still_run(system: System) -> None:
    start = time.monotonic()
    result = assess(
        system,
        probes={
            "Q1": Passing,
            "Q2": Crashing,
            "Q4": Sleeping,
            "Q6": WrongReturn,
            "Q7": Partial,
            "Q9": NotApplicable,
        },
    )
    assert time.monotonic() - start < 20, "the runner waited for the sleeping probe"
    by = {f.question: f for f in result.findings}
    assert [f.question for f in result.findings] == [q.id for q in QUESTIONS]
    assert by["Q1"].status is Status.PASS
    assert by["Q2"].status is Status.ERROR
    assert "RuntimeError: boom in the probe" in (by["Q2"].error or "")
    assert by["Q2"].summary == "The probe crashed: RuntimeError: boom in the probe"
    assert by["Q4"].status is Status.ERROR and "time limit of 2 s" in by["Q4"].summary
    assert by["Q6"].status is Status.ERROR and "not a Finding" in by["Q6"].summary
    # Partly assessed can never pass.
    assert by["Q7"].status is Status.WARN
    assert by["Q7"].checks[-1].name == "coverage"
    assert by["Q9"].status is Status.SKIPPED and by["Q9"].summary == "not applicable here"
    for q in ("Q3", "Q5", "Q8", "Q10"):
        assert by[q].status is Status.NOT_ASSESSED
    assert by["Q1"].probe.endswith("test_assessment:Passing")
    assert result.verdict == "not ready"


def test_unbuilt_questions_are_not_assessed_never_pass(system: System) -> None:
    result = assess(system, probes={})
    assert {f.status for f in result.findings} == {Status.NOT_ASSESSED}
    assert result.overall == 0.0 and not result.ready


def test_selected_questions_only(system: System) -> None:
    result = assess(system, probes={"Q1": Passing}, questions=["Q1"])
    assert result.finding("Q1").status is Status.PASS
    assert result.finding("Q2").summary == "Not selected for this run."


def finding(q: str, status: Status) -> Finding:
    return Finding(question=q, status=status, summary="")


def findings_with(statuses: dict[str, Status]) -> list[Finding]:
    return [finding(q.id, statuses.get(q.id, Status.PASS)) for q in QUESTIONS]


def test_score_is_minimum_of_sections() -> None:
    fs = findings_with({"Q5": Status.WARN, "Q6": Status.WARN})
    scores, overall, verdict = score(fs, Policy(min_score=0.7))
    assert scores == {"technical": 1.0, "governance": 0.75, "operational": 1.0}
    assert overall == 0.75 and verdict == "ready"
    assert score(fs, Policy(min_score=0.8))[2] == "not ready"


@pytest.mark.parametrize("status", [Status.FAIL, Status.ERROR, Status.NOT_ASSESSED])
def test_any_blocking_status_means_not_ready(status: Status) -> None:
    _, _, verdict = score(findings_with({"Q10": status}), Policy(min_score=0.0))
    assert verdict == "not ready"


def test_skipped_questions_leave_the_denominator() -> None:
    scores, overall, verdict = score(
        findings_with({"Q9": Status.SKIPPED, "Q10": Status.SKIPPED}), Policy()
    )
    assert scores["operational"] == 1.0 and overall == 1.0 and verdict == "ready"


def test_worst_check_decides() -> None:
    checks = [
        Check("a", Status.PASS, 1, "", ""),
        Check("b", Status.WARN, 1, "", ""),
        Check("c", Status.FAIL, 1, "", ""),
    ]
    assert Finding.worst(checks) is Status.FAIL
    assert Finding.worst(checks[:2]) is Status.WARN
    assert Finding.worst([]) is Status.PASS


def test_plugins_from_entry_points(monkeypatch: pytest.MonkeyPatch, system: System) -> None:
    class EP:
        def __init__(self, name: str, value: str, obj: Any) -> None:
            self.name, self.value, self._obj = name, value, obj

        def load(self) -> Any:
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    eps = [
        EP("Q1", "plug:Passing", Passing),
        EP("Q8", "plug:broken", ImportError("no mod")),
        EP("Q9", "plug:notaprobe", dict),
    ]
    monkeypatch.setattr(probes_module, "entry_points", lambda group: eps)
    registry = probes_module.registered_probes()
    assert registry["Q1"].probe is Passing and registry["Q1"].origin == "plug:Passing"
    assert registry["Q3"].probe is not None  # built-ins stay
    result = assess(system, probes={k: v for k, v in registry.items() if k in {"Q1", "Q8", "Q9"}})
    assert result.finding("Q1").status is Status.PASS
    assert result.finding("Q8").status is Status.ERROR
    assert "ImportError: no mod" in (result.finding("Q8").error or "")
    assert "not a prodready.Probe subclass" in (result.finding("Q9").error or "")


def test_unknown_plugin_question_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    class EP:
        name, value = "Q11", "plug:x"

    monkeypatch.setattr(probes_module, "entry_points", lambda group: [EP()])
    with pytest.warns(UserWarning, match="not a checklist question"):
        probes_module.registered_probes()
