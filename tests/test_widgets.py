"""The dashboard: built and clicked without a browser, as ipywidgets allows.

Buttons run the assessment in a background thread (the kernel stays free); the tests wait for
it with ``Dashboard.wait``. The real JupyterLab, in Chromium, is tested in ``tests/lab``.
"""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sklearn.pipeline import Pipeline

from prodready import Dashboard, Finding, Probe, ProbeContext, Status, System, UsageError
from prodready.probes import ProbeCancelled
from tests.test_assessment import Crashing, Passing


@pytest.fixture
def system(binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]) -> System:
    ref, cur = binary_data
    return System(model=binary_model, reference=ref, current=cur, target="target", name="board")


class Stepping(Probe):
    """Reports its steps, as long probes do (load phases, rehearsals)."""

    question = "Q3"

    def run(self, system: System, context: ProbeContext) -> Finding:
        for i, step in enumerate(("phase 1", "phase 2", "phase 3")):
            context.report(step, i / 3)
            context.cancel.wait(0.3)
            context.check_deadline()
        return Finding(question="Q3", status=Status.WARN, summary="stepped")


class Slow(Probe):
    """Runs until cancelled (checking its context, as a long probe must)."""

    question = "Q4"
    cancelled: ClassVar[list[float]] = []

    def run(self, system: System, context: ProbeContext) -> Finding:
        context.report("waiting for Stop", None)
        try:
            while True:
                context.check_deadline()
                context.cancel.wait(0.05)
        except ProbeCancelled:
            Slow.cancelled.append(time.monotonic())
            raise


class Toggle(Probe):
    """FAILs on its first run and PASSes after (the team fixed the system in between)."""

    question = "Q2"
    runs: ClassVar[list[int]] = []

    def run(self, system: System, context: ProbeContext) -> Finding:
        Toggle.runs.append(1)
        fixed = len(Toggle.runs) > 1
        return Finding(
            question="Q2",
            status=Status.PASS if fixed else Status.FAIL,
            summary="fixed" if fixed else "broken",
        )


class Refusing(Probe):
    """Its preflight finds input the user must fix."""

    question = "Q5"

    def preflight(self, system: System) -> None:
        raise UsageError("explainability.sample must be > 0")

    def run(self, system: System, context: ProbeContext) -> Finding:
        raise AssertionError("never runs")


def test_click_runs_in_the_background_and_fills_every_panel(system: System) -> None:
    board = Dashboard(system, probes={"Q1": Passing, "Q2": Crashing})
    assert "Not assessed yet" in board.static_html()
    board.button.click()
    assessment = board.wait(60)
    assert assessment is board.assessment and assessment is not None
    assert board.progress.value == 10 and board.progress.description == "10/10"
    assert assessment.finding("Q2").status is Status.ERROR
    assert board.details.get_title(0) == "Q1. Load at 10x — PASS"
    assert board.details.get_title(1) == "Q2. Graceful failure — ERROR"
    assert "NOT ASSESSED" in board.details.get_title(9)
    assert "pr-verdict pr-not-ready" in board.summary.value
    assert "prodready could not judge this question" in board.panels[1].value
    assert not board.button.disabled and board.stop_button.disabled
    assert board.question_buttons[0].description == "Re-run Q1"
    assert not board.running


def test_every_view_carries_its_scoped_styles(system: System) -> None:
    board = Dashboard(system, probes={"Q1": Passing})
    board.run()
    for html in (board.summary.value, board.panels[0].value, board.static_html()):
        assert html.startswith('<div class="pr-nb"><style')
        assert ".pr-nb .pr-badge.pr-pass{" in html  # the status colours travel with the HTML
    assert "var(--jp-content-font-color1" in board.summary.value  # JupyterLab's theme colours


def test_static_fallback_in_the_mime_bundle(system: System) -> None:
    board = Dashboard(system, probes={})
    bundle = board._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "Not assessed yet" in bundle["text/html"]
    board.run()
    bundle = board._repr_mimebundle_()
    assert "Production readiness" in bundle["text/html"]
    assert bundle["text/html"].count('class="pr-report pr-question') == 10
    assert "VBox(" not in bundle["text/html"] and "VBox(" not in bundle["text/plain"]
    assert bundle["text/plain"].startswith("<prodready.Dashboard of 'board': NOT READY")


def test_a_probe_reports_its_steps_live(system: System) -> None:
    board = Dashboard(system, probes={"Q3": Stepping})
    boards: list[str] = []
    lines: list[str] = []
    board.summary.observe(lambda change: boards.append(change["new"]), names="value")
    board.status.observe(lambda change: lines.append(change["new"]), names="value")
    board.run(questions=["Q3"])
    running = [b for b in boards if "pr-badge pr-running" in b]
    assert running, "the live board never showed the probe running"
    assert any("phase 2" in b and 'class="pr-bar"' in b for b in running)
    assert any("Q3 Monitoring and drift: phase 2 (33%)" in line for line in lines)
    assert "pr-verdict pr-not-ready" in board.summary.value  # then the summary


def test_stop_cancels_the_running_probe(system: System) -> None:
    Slow.cancelled.clear()
    board = Dashboard(system, probes={"Q1": Passing, "Q4": Slow})
    started = time.monotonic()
    board.start()
    assert time.monotonic() - started < 1.0, "start() must return at once (the kernel is free)"
    deadline = time.monotonic() + 30
    while board.probe_progress.description != "Q4" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert board.running and not board.stop_button.disabled
    pressed = time.monotonic()
    board.stop_button.click()
    assessment = board.wait(30)
    assert assessment is not None and not board.running
    assert Slow.cancelled and Slow.cancelled[0] - pressed < 2.0
    q4 = assessment.finding("Q4")
    assert q4.status is Status.NOT_ASSESSED and "stopped" in q4.summary
    assert assessment.finding("Q1").status is Status.PASS  # finished before the Stop
    assert "stopped" in assessment.finding("Q5").summary  # never started
    assert "Stopped." in board.status.value


def test_rerun_one_question_keeps_the_others_and_compares(system: System) -> None:
    Toggle.runs.clear()
    board = Dashboard(system, probes={"Q1": Passing, "Q2": Toggle})
    first = board.run()
    assert first.finding("Q2").status is Status.FAIL
    board.question_buttons[1].click()  # "Re-run Q2", after the team's fix
    second = board.wait(60)
    assert second is not None and board.previous is first
    assert len(Toggle.runs) == 2
    assert second.finding("Q2").status is Status.PASS
    assert second.finding("Q1") is first.finding("Q1")  # kept, not run again
    assert [f.question for f in second.findings] == [f.question for f in first.findings]
    assert not second.partial and second.scores["technical"] > first.scores["technical"]
    assert any("kept from run" in note for note in second.notes)
    assert board.details.get_title(1) == "Q2. Graceful failure — PASS (was FAIL)"
    comparison = board.comparison.value
    assert comparison.count('class="pr-changed"') == 1
    assert "▲ better" in comparison and "previous run" in comparison
    assert "Compared with the previous run" in board.static_html()


def test_a_stopped_rerun_keeps_the_earlier_finding(system: System) -> None:
    board = Dashboard(system, probes={"Q1": Passing, "Q4": Slow})
    board.run(questions=["Q1"])
    before = board.assessment
    assert before is not None and before.partial
    stop = threading.Timer(0.5, board.stop)
    stop.start()
    after = board.run(questions=["Q1", "Q4"])
    stop.join()
    assert after.finding("Q1").status is Status.PASS
    assert after.finding("Q4").status is Status.NOT_ASSESSED


def test_bad_input_is_shown_and_the_dashboard_stays_usable(system: System) -> None:
    board = Dashboard(system, probes={"Q1": Passing, "Q5": Refusing})
    board.start()
    with pytest.raises(UsageError, match="sample must be"):
        board.wait(30)
    assert "The assessment did not run" in board.summary.value
    assert "sample must be" in board.summary.value
    assert not board.run_button.disabled and not board.running
    with pytest.raises(UsageError, match="Q11"):
        board.run(questions=["Q11"])


def test_one_run_at_a_time(system: System) -> None:
    board = Dashboard(system, probes={"Q4": Slow})
    board.start()
    try:
        with pytest.raises(UsageError, match="already running"):
            board.run()
        board.question_buttons[0].click()  # a click says so in the dashboard, not in a log
        assert "already running" in board.status.value
    finally:
        board.stop()
        board.wait(30)


def test_in_a_script_it_says_what_it_is_and_prints_the_run(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    board = Dashboard(system, probes={"Q1": Passing})
    assert repr(board) == (
        "<prodready.Dashboard of 'board': not run yet; display it in JupyterLab, or call .run()>"
    )
    board.run()
    out = capsys.readouterr().out
    assert " Q1 Load at 10x" in out and "all good" in out
    assert "Verdict: NOT READY" in out


# -- a saved notebook: the dashboard's last state, never a widget's text repr ---------------

NOTEBOOK_SETUP = """\
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import prodready
from prodready import Finding, Probe, Status

rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
data = X.assign(y=(X.a + rng.normal(size=300) > 0).astype(int))
model = LogisticRegression().fit(X, data.y)


class Good(Probe):
    question = "Q1"

    def run(self, system, context):
        context.report("measuring", 0.5)
        return Finding(question="Q1", status=Status.PASS, summary="fine")


class Bad(Probe):
    question = "Q2"

    def run(self, system, context):
        return Finding(question="Q2", status=Status.FAIL, summary="falls short")


system = prodready.System(model=model, reference=data, target="y", name="export test")
board = prodready.Dashboard(system, probes={"Q1": Good, "Q2": Bad})
board
"""


@pytest.mark.e2e
def test_executed_notebook_keeps_the_final_state_for_html_export() -> None:
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = new_notebook(cells=[new_code_cell(NOTEBOOK_SETUP), new_code_cell("a = board.run()")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True).execute()
    live, static = [o for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert "application/vnd.jupyter.widget-view+json" in live.data
    assert "VBox(" not in live.data["text/plain"]
    # The static copy was updated at the end of the run: it holds the final state.
    assert static.metadata == {} and "pr-verdict pr-not-ready" in static.data["text/html"]
    assert "falls short" in static.data["text/html"]
    assert "application/vnd.jupyter.widget-state+json" in nb.metadata["widgets"]
    assert "pr-verdict pr-not-ready" in nbformat.writes(nb)  # in the saved widget state too

    # With the widget state (nbclient saves it), the export renders the widgets with a script
    # from the network; the static copy shows the final state wherever that script cannot run.
    html = HTMLExporter(template_name="lab").from_notebook_node(nb)[0]
    assert "VBox(" not in html and "Dashboard of" not in html
    assert 'class="pr-verdict pr-not-ready">NOT READY' in html
    assert ".jp-Cell:has(.pr-dashboard)" in html  # hidden where the live widget renders

    # Without it (JupyterLab saves none by default): the static copy alone.
    del nb.metadata["widgets"]
    html = HTMLExporter(template_name="lab").from_notebook_node(nb)[0]
    assert "VBox(" not in html and "Dashboard of" not in html
    assert 'class="pr-verdict pr-not-ready">NOT READY' in html
    assert ".pr-nb .pr-badge.pr-fail{" in html
    assert html.count('class="pr-report pr-question') == 10
