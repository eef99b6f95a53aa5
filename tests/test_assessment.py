"""The assessment runner and scoring, with deliberately broken probes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

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
    UsageError,
    assess,
    score,
)
from prodready._isolation import GRACE_S
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
    # A plain sentence in the summary; the library's words only in the details.
    assert by["Q2"].summary == (
        "prodready could not judge this question: its probe failed with an internal error."
    )
    assert "not of the system" in by["Q2"].remediation
    assert by["Q4"].status is Status.ERROR and "time limit of 2 s" in by["Q4"].summary
    assert by["Q6"].status is Status.ERROR and "something else than a finding" in by["Q6"].summary
    assert "not a Finding" in (by["Q6"].error or "")
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


def test_selected_questions_make_a_partial_assessment_judged_on_them(system: System) -> None:
    result = assess(
        system, probes={"Q1": Passing, "Q2": Crashing, "Q7": Partial}, questions=["Q1", "lineage"]
    )
    assert result.questions == ["Q1", "Q7"] and result.partial
    assert [f.question for f in result.findings] == ["Q1", "Q7"]  # Q2 was not run
    assert result.scope == "partial assessment: 2 of 10 questions (Q1, Q7)"
    # Sections without a selected question have no score; the verdict judges the subset.
    assert result.scores == {"technical": 1.0, "governance": 0.5}
    assert result.overall == 0.5 and result.verdict == "not ready"
    ready = assess(system, probes={"Q1": Passing}, questions=["Q1"])
    assert ready.ready and ready.scores == {"technical": 1.0}
    full = assess(system, probes={"Q1": Passing})
    assert not full.partial and full.scope == "full assessment" and not full.ready


def test_unknown_question_is_bad_input(system: System) -> None:
    with pytest.raises(UsageError, match="unknown question 'Q11'"):
        assess(system, probes={}, questions=["Q11"])


class NeedsSomething(Probe):
    """Its preflight finds that the user must fix something."""

    question = "Q8"
    ran: ClassVar[bool] = False

    def preflight(self, system: System) -> None:
        raise UsageError("Q8 needs approvals.keys in the spec")

    def run(self, system: System, context: ProbeContext) -> Finding:
        NeedsSomething.ran = True
        return Finding(question="Q8", status=Status.PASS, summary="")


def test_preflight_stops_bad_input_before_any_probe_runs(system: System) -> None:
    started: list[str] = []
    with pytest.raises(UsageError, match=r"approvals\.keys"):
        assess(
            system,
            probes={"Q1": Passing, "Q8": NeedsSomething},
            on_finding=lambda f: started.append(f.question),
        )
    assert started == [] and not NeedsSomething.ran


class Cooperative(Probe):
    """Loops until cancelled, checking its context as a long probe should."""

    question = "Q1"
    stopped: ClassVar[list[float]] = []

    def run(self, system: System, context: ProbeContext) -> Finding:
        try:
            while True:
                context.check_deadline()
                context.cancel.wait(0.05)
        finally:
            Cooperative.stopped.append(time.monotonic())


def test_time_limit_cancels_a_cooperative_probe(system: System) -> None:
    start = time.monotonic()
    result = assess(system, probes={"Q1": Cooperative}, questions=["Q1"])
    assert result.finding("Q1").status is Status.ERROR
    assert "time limit of 2 s" in result.finding("Q1").summary
    assert Cooperative.stopped and Cooperative.stopped[-1] - start < 3.0  # it stopped itself


def test_stop_event_cancels_the_running_probe_and_skips_the_rest(system: System) -> None:
    stop = threading.Event()

    class StopsTheRun(Cooperative):
        def run(self, system: System, context: ProbeContext) -> Finding:
            threading.Timer(0.2, stop.set).start()  # the user presses Stop
            return super().run(system, context)

    result = assess(system, probes={"Q1": StopsTheRun, "Q2": Passing}, cancel=stop)
    q1, q2 = result.finding("Q1"), result.finding("Q2")
    assert q1.status is Status.NOT_ASSESSED and "stopped during" in q1.summary
    assert q2.status is Status.NOT_ASSESSED and "stopped before" in q2.summary
    assert not result.ready


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (PID 1 may not reap in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


class Runaway(Probe):
    """Ignores its deadline in a subprocess, with a child process of its own."""

    question = "Q1"
    isolation = "subprocess"

    def run(self, system: System, context: ProbeContext) -> Finding:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        Path(os.environ["PRODREADY_TEST_PIDS"]).write_text(f"{os.getpid()} {child.pid}")
        while True:  # deaf to its deadline and to SIGTERM's cancellation
            time.sleep(0.5)


class LeavesAChild(Probe):
    """Finishes in a subprocess but forgets to stop a process it started."""

    question = "Q2"
    isolation = "subprocess"

    def run(self, system: System, context: ProbeContext) -> Finding:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        Path(os.environ["PRODREADY_TEST_PIDS"] + ".2").write_text(str(child.pid))
        return Finding(question="Q2", status=Status.PASS, summary=f"ran in {os.getpid()}")


class CrashesInASubprocess(Probe):
    question = "Q4"
    isolation = "subprocess"

    def run(self, system: System, context: ProbeContext) -> Finding:
        raise RuntimeError("boom in the child")


def test_subprocess_probe_past_its_limit_is_killed_with_everything_it_started(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    monkeypatch.setenv("PRODREADY_TEST_PIDS", str(pids))
    limit = 8.0  # includes the child's start-up (a fresh interpreter importing the system)
    starts: dict[str, float] = {}

    class Timed(Passing):
        question = "Q3"

        def run(self, system: System, context: ProbeContext) -> Finding:
            starts["Q3"] = time.monotonic()
            return Finding(question="Q3", status=Status.PASS, summary="on time")

    begin = time.monotonic()
    result = assess(
        replace(system, policy=Policy(probe_timeout_s=limit)),
        probes={"Q1": Runaway, "Q2": LeavesAChild, "Q3": Timed, "Q4": CrashesInASubprocess},
        questions=["Q1", "Q2", "Q3", "Q4"],
    )
    q1 = result.finding("Q1")
    assert q1.status is Status.ERROR and "time limit of 8 s" in q1.summary
    probe_pid, child_pid = map(int, pids.read_text().split())
    assert probe_pid != os.getpid()
    assert not _alive(probe_pid) and not _alive(child_pid)
    # The next probe started on time: the limit plus the grace period, not the runaway's 300 s.
    assert starts["Q3"] - begin < limit + GRACE_S + 12  # + Q2's own subprocess start-up
    q2 = result.finding("Q2")
    assert q2.status is Status.PASS and q2.summary != f"ran in {os.getpid()}"
    assert not _alive(int(Path(str(pids) + ".2").read_text()))
    q4 = result.finding("Q4")
    assert q4.status is Status.ERROR and "RuntimeError: boom in the child" in (q4.error or "")


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


def test_unknown_plugin_question_warns_and_is_noted(
    monkeypatch: pytest.MonkeyPatch, system: System
) -> None:
    class EP:
        name, value = "Q11", "plug:x"

    monkeypatch.setattr(probes_module, "entry_points", lambda group: [EP()])
    with pytest.warns(UserWarning, match="not a checklist question"):
        probes_module.registered_probes()
    # Said in the results too (the notebook hides warnings): the report and the CLI show it.
    with pytest.warns(UserWarning, match="not a checklist question"):
        result = assess(system, questions=["Q1"])
    assert result.notes == [
        "ignored the probe plug-in Q11=plug:x: 'Q11' is not a checklist question id (Q1..Q10)"
    ]


class HoldsTheGIL(Probe):
    """One long C call that never releases the GIL: the watchdog cannot wake up in time."""

    question = "Q6"

    def run(self, system: System, context: ProbeContext) -> Finding:
        sum(range(60_000_000))  # about a second or more, all inside one C loop
        return Finding(question="Q6", status=Status.PASS, summary="late")


def test_a_finding_past_the_time_limit_never_counts(system: System) -> None:
    steps: list[tuple[str, str]] = []
    result = assess(
        replace(system, policy=Policy(probe_timeout_s=0.2)),
        probes={"Q6": HoldsTheGIL},
        questions=["Q6"],
        on_progress=lambda q, step, fraction: steps.append((q, step)),
    )
    q6 = result.finding("Q6")
    assert q6.duration_s > 0.2  # it did finish, late
    assert q6.status is Status.ERROR and "time limit of 0.2 s" in q6.summary
    assert steps[0] == ("Q6", "started")


class HoldsTheGILInASubprocess(Probe):
    question = "Q6"
    isolation = "subprocess"

    def run(self, system: System, context: ProbeContext) -> Finding:
        sum(range(10**11))  # minutes inside one C loop: SIGTERM's handler never runs
        return Finding(question="Q6", status=Status.PASS, summary="never")


def test_subprocess_isolation_stops_a_probe_that_holds_the_gil(system: System) -> None:
    limit = 6.0
    start = time.monotonic()
    result = assess(
        replace(system, policy=Policy(probe_timeout_s=limit)),
        probes={"Q6": HoldsTheGILInASubprocess},
        questions=["Q6"],
    )
    assert result.finding("Q6").status is Status.ERROR
    assert time.monotonic() - start < limit + 2 * GRACE_S + 1  # SIGTERM, then SIGKILL


_UNGUARDED_SCRIPT = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import prodready
from prodready.system import Traffic

print("SCRIPT RAN")
frame = pd.DataFrame({"a": np.arange(200.0), "b": np.arange(200.0) % 7})
frame["t"] = (frame["a"] > 100).astype(int)
model = LogisticRegression().fit(frame[["a", "b"]], frame["t"])
system = prodready.System(
    model=model, reference=frame, target="t", traffic=Traffic(current_rps=20),
    settings={"load": {"phase_s": 0.3, "warmup_s": 0.0, "search": False}},
)
result = prodready.assess(system, questions=["Q1"])
print("RESULT", result.findings[0].status.value)
"""


def test_a_script_without_a_main_guard_runs_subprocess_probes_once(tmp_path: Path) -> None:
    """A spawned probe process must not re-run the user's script (it has no main guard)."""
    script = tmp_path / "assess_my_model.py"
    script.write_text(_UNGUARDED_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("SCRIPT RAN") == 1
    assert done.stdout.strip().splitlines()[-1] in ("RESULT pass", "RESULT warn")
