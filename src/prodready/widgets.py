"""The JupyterLab dashboard: run an assessment, watch it progress, re-run a question, compare.

``Dashboard(system)`` shows a Run button, a Stop button, the progress of the run and of the
probe running, the executive summary (the verdict, the section scores, the ten questions) and
one collapsible panel per checklist question, filled in live as each probe finishes. The
panels hold the same HTML as the report (:mod:`prodready.views`), with the report's styles
carried along (:func:`prodready.views.styled`), so what the data scientist sees is what the
risk officer reads, in JupyterLab's light and dark themes.

- **Run** (or :meth:`Dashboard.start`) assesses in a background thread, as ipywidgets
  documents for long work: the kernel stays free for other cells and widgets meanwhile.
  :meth:`Dashboard.run` does the same in the calling thread and returns the assessment (what
  a notebook run headless, or a script, calls).
- **Stop** cancels the probe running through the assessment's cancellation
  (:func:`prodready.assess`'s ``cancel``); a probe that reports its steps shows them (load
  phases, rehearsals) in the progress line.
- Each question's panel has a button that runs that question alone: its new finding replaces
  the old one, the others are kept, and the verdict is scored again
  (:func:`prodready.assessment.score`). A stopped run changes only the questions it finished.
- After a second run, a comparison with the previous one highlights every status that changed.

Where no widget manager runs (a notebook exported to HTML, or reopened without its widget
state), a reader sees the static HTML of the dashboard's last state, never a widget's text repr:
it is displayed with the widget, hidden wherever the widget renders, and updated at the end of
every run (see ``Dashboard._ipython_display_``). Outside a notebook (a script),
:meth:`Dashboard.run` prints one line per question and the verdict.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from prodready import views
from prodready._exceptions import UsageError
from prodready.assessment import assess, score, select_questions
from prodready.checklist import QUESTIONS, get_question
from prodready.probes import Probe, ProbeSpec
from prodready.results import Assessment, Finding, Status
from prodready.system import System

__all__ = ["Dashboard"]

# Where the live dashboard renders, its static copy in the same cell is hidden (JupyterLab's and
# nbconvert's lab template both wrap each output in .jp-OutputArea-child inside .jp-Cell).
_HIDE_WHEN_LIVE = (
    "<style>.jp-Cell:has(.pr-dashboard) .jp-OutputArea-child:has(.pr-static),"
    ".jp-Cell:has(.pr-dashboard) .pr-static{display:none}</style>"
)
#: Seconds between two redraws of the live board while a probe reports its steps.
_REDRAW_S = 0.25


class Dashboard:
    """A live ipywidgets view of the assessment of ``system``.

    ``probes`` is passed to :func:`prodready.assess` (default: the registry). Click "Run
    assessment" or call :meth:`run` (in this thread) or :meth:`start` (in the background);
    the last result is :attr:`assessment`, the one before :attr:`previous`. Assign
    :attr:`system` to assess a fixed system with the same dashboard.
    """

    def __init__(
        self, system: System, *, probes: Mapping[str, type[Probe] | ProbeSpec] | None = None
    ) -> None:
        import ipywidgets as w

        self.system = system
        self.probes = probes
        self.assessment: Assessment | None = None
        self.previous: Assessment | None = None
        self._cancel = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._rows: dict[str, views.QuestionProgress] = {}
        self._unfinished: set[str] = set()
        self._total = 0
        self._redrawn = 0.0
        self._display_id = f"prodready-dashboard-{uuid.uuid4().hex}"
        self._displayed = False

        self.run_button = w.Button(
            description="Run assessment",
            button_style="primary",
            icon="play",
            tooltip="Run every probe on the system (in the background)",
        )
        self.button = self.run_button  # the name of earlier versions
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            disabled=True,
            tooltip="Cancel the probe running; questions not run keep their earlier finding",
        )
        n = len(QUESTIONS)
        self.progress = w.IntProgress(
            value=0,
            min=0,
            max=n,
            description=f"0/{n}",
            style={"description_width": "3.2em"},
            layout=w.Layout(width="16em"),
        )
        self.probe_progress = w.FloatProgress(
            value=0.0,
            min=0.0,
            max=1.0,
            description="",
            style={"description_width": "3.2em"},
            layout=w.Layout(width="14em", display="none"),
        )
        self.status = w.HTML(value="", layout=w.Layout(flex="1 1 auto"))
        self.summary = w.HTML(
            value=views.styled(views.dashboard_intro_html(system.name)),
            layout=w.Layout(width="100%"),
        )
        self.comparison = w.HTML(value="", layout=w.Layout(width="100%"))
        self.panels = [
            w.HTML(
                value=views.styled(views.pending_question_html(q.id)),
                layout=w.Layout(width="100%"),
            )
            for q in QUESTIONS
        ]
        self.question_buttons = [
            w.Button(
                description=f"Run {q.id} alone",
                icon="redo",
                tooltip=f"Assess {q.id} again, keeping the other questions' findings",
                layout=w.Layout(width="auto", align_self="flex-start"),
            )
            for q in QUESTIONS
        ]
        self.details = w.Accordion(
            children=[
                w.VBox([button, panel])
                for button, panel in zip(self.question_buttons, self.panels, strict=True)
            ]
        )
        for i, q in enumerate(QUESTIONS):
            self.details.set_title(i, f"{q.id}. {q.title}")
        toolbar = w.HBox(
            [self.run_button, self.stop_button, self.progress, self.probe_progress, self.status],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.widget = w.VBox([toolbar, self.summary, self.comparison, self.details])
        self.widget.add_class("pr-dashboard")

        self.run_button.on_click(lambda _button: self._start_quietly(None))
        self.stop_button.on_click(lambda _button: self.stop())
        for q, button in zip(QUESTIONS, self.question_buttons, strict=True):
            button.on_click(lambda _button, qid=q.id: self._start_quietly([qid]))

    # -- running ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while a run is going on (in the background or in another thread)."""
        with self._lock:
            return self._total > 0

    def run(self, questions: Sequence[str] | None = None) -> Assessment:
        """Assess the system now, in this thread; return the (merged) assessment.

        ``questions`` (ids or keys) assesses only those: after an earlier run their findings
        replace the earlier ones and the verdict is scored again on all of them; before any,
        it is a partial assessment. Raises what :func:`prodready.assess` raises for bad input
        (also shown in the dashboard).
        """
        selected = self._begin(questions)
        return self._execute(selected)

    def start(self, questions: Sequence[str] | None = None) -> threading.Thread:
        """Assess in a background thread (what the buttons do); returns the thread.

        The kernel stays free meanwhile; :meth:`wait` waits for the result and :meth:`stop`
        cancels the run.
        """
        selected = self._begin(questions)
        thread = threading.Thread(
            target=self._execute_quietly, args=(selected,), name="prodready-dashboard", daemon=True
        )
        self._thread = thread
        thread.start()
        return thread

    def wait(self, timeout: float | None = None) -> Assessment | None:
        """Wait for a background run to end (at most ``timeout`` seconds); its result.

        Re-raises what stopped the run before any probe ran (e.g. bad settings).
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self.assessment

    def stop(self) -> None:
        """Cancel the run: the probe running gets the cancellation, the rest is not run."""
        if not self.running:
            return
        self._cancel.set()
        self.stop_button.disabled = True
        self.status.value = self._status_line("Stopping: waiting for the probe to stop…")

    def _start_quietly(self, questions: Sequence[str] | None) -> None:
        """A button's click: start, or say in the dashboard why not."""
        try:
            self.start(questions)
        except UsageError as exc:
            self.status.value = self._status_line(str(exc))

    def _begin(self, questions: Sequence[str] | None) -> list[str] | None:
        """Check and claim the dashboard for a run; reset the progress display."""
        selected = None if questions is None else [q.id for q in select_questions(questions)]
        with self._lock:
            if self._total:
                raise UsageError("an assessment is already running: wait for it, or press Stop")
            ids = selected or [q.id for q in QUESTIONS]
            self._total = len(ids)
            self._cancel.clear()
            self._error = None
            self._unfinished = set()
            earlier = (
                {f.question: f.status for f in self.assessment.findings} if self.assessment else {}
            )
            self._rows = {
                q.id: views.QuestionProgress(q.id, "waiting", previous=earlier.get(q.id))
                if q.id in ids
                else views.QuestionProgress(q.id, "kept", status=earlier.get(q.id))
                for q in QUESTIONS
                if q.id in ids or q.id in earlier
            }
        self.run_button.disabled = True
        for button in self.question_buttons:
            button.disabled = True
        self.stop_button.disabled = False
        self.progress.max = self._total
        self.progress.value = 0
        self.progress.bar_style = ""
        self.progress.description = f"0/{self._total}"
        self.status.value = self._status_line("Starting…")
        self._redraw(force=True)
        return selected

    def _execute_quietly(self, selected: list[str] | None) -> None:
        try:
            self._execute(selected)
        except BaseException as exc:  # shown in the dashboard; wait() re-raises it
            self._error = exc

    def _execute(self, selected: list[str] | None) -> Assessment:
        earlier = self.assessment
        try:
            result = assess(
                self.system,
                probes=self.probes,
                questions=selected,
                on_finding=self._on_finding,
                on_progress=self._on_progress,
                cancel=self._cancel,
            )
        except BaseException as exc:
            self._end()
            self._show_failure(exc)
            self._refresh_display()
            raise
        merged = self._merge(earlier, result)
        with self._lock:
            self.previous, self.assessment = earlier, merged
        try:
            self._show_result(merged, stopped=self._cancel.is_set())
        finally:
            self._end()
            self._refresh_display()
        return merged

    def _end(self) -> None:
        with self._lock:
            self._total = 0
        self.run_button.disabled = False
        self.stop_button.disabled = True
        for button in self.question_buttons:
            button.disabled = False
        self.probe_progress.layout.display = "none"

    def _merge(self, earlier: Assessment | None, result: Assessment) -> Assessment:
        """``result`` with the earlier findings of the questions it did not finish, re-scored."""
        if earlier is None:
            return result
        by_id = {f.question: f for f in earlier.findings}
        fresh = {f.question for f in result.findings} - self._unfinished
        kept = [q for q in by_id if q not in fresh]
        if not kept:
            return result
        by_id.update({f.question: f for f in result.findings if f.question in fresh})
        findings = [by_id[q.id] for q in QUESTIONS if q.id in by_id]
        scores, overall, verdict = score(findings, self.system.policy)
        note = (
            f"{', '.join(kept)} {'is' if len(kept) == 1 else 'are'} kept from run "
            f"{earlier.run_id} (not assessed again in this run)."
        )
        return dataclasses.replace(
            result,
            findings=findings,
            scores=scores,
            overall=overall,
            verdict=verdict,
            questions=[f.question for f in findings],
            notes=[*result.notes, note],
        )

    # -- live updates (called from the run's threads) -----------------------------------------

    def _on_progress(self, question: str, step: str, fraction: float | None) -> None:
        with self._lock:
            row = self._rows.get(question)
            if row is None or row.state not in ("waiting", "running") or not self._total:
                return  # a late report of a probe already judged (or abandoned)
            if step == "started":
                step = "starting"
            self._rows[question] = dataclasses.replace(
                row, state="running", step=step, fraction=fraction
            )
            now = time.monotonic()
            if step != "starting" and now - self._redrawn < _REDRAW_S:
                return  # a probe may report often: the display follows at a human pace
        self.probe_progress.layout.display = ""
        self.probe_progress.description = question
        self.probe_progress.value = 0.0 if fraction is None else min(max(fraction, 0.0), 1.0)
        self.probe_progress.bar_style = "" if fraction is not None else "info"
        title = get_question(question).title
        known = "" if fraction is None else f" ({views.pct(fraction)})"
        self.status.value = self._status_line(f"{question} {title}: {step}{known}")
        self._redraw(force=step == "starting")

    def _on_finding(self, finding: Finding) -> None:
        qid = finding.question
        index = next(i for i, q in enumerate(QUESTIONS) if q.id == qid)
        q = QUESTIONS[index]
        stopped = self._cancel.is_set() and finding.status is Status.NOT_ASSESSED
        with self._lock:
            if stopped:
                self._unfinished.add(qid)
            row = self._rows.get(qid) or views.QuestionProgress(qid, "waiting")
            previous = row.previous
            kept = stopped and previous is not None
            self._rows[qid] = dataclasses.replace(
                row,
                state="kept" if kept else "done",
                status=previous if kept else finding.status,
                seconds=finding.duration_s,
            )
        if not kept:
            self.panels[index].value = views.styled(views.finding_html(finding))
            title = f"{q.id}. {q.title} — {finding.status.label}"
            if previous is not None and previous is not finding.status:
                title += f" (was {previous.label})"
            self.details.set_title(index, title)
        self.question_buttons[index].description = f"Re-run {qid}"
        self.progress.value += 1
        self.progress.description = f"{self.progress.value}/{self.progress.max}"
        self._redraw(force=True)
        if not _in_kernel():
            print(f"{qid:>3} {q.title:<28} {finding.status.label:<12} {finding.summary}")

    def _redraw(self, *, force: bool = False) -> None:
        """Draw the live board (at most every _REDRAW_S seconds unless ``force``)."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._redrawn < _REDRAW_S:
                return
            self._redrawn = now
            rows = list(self._rows.values())
            done = sum(1 for r in rows if r.state == "done")
            total = self._total
        if total:
            headline = f"Assessing… {done} of {total} questions done"
            if self._cancel.is_set():
                headline = "Stopping…"
            self.summary.value = views.styled(
                views.progress_html(self.system.name, rows, headline=headline)
            )

    def _show_result(self, assessment: Assessment, *, stopped: bool) -> None:
        self.summary.value = views.styled(views.summary_html(assessment))
        if self.previous is not None:
            self.comparison.value = views.styled(
                views.comparison_html(
                    [self.previous, assessment],
                    ["previous run", "this run"],
                    title="Compared with the previous run",
                )
            )
        label = "READY" if assessment.ready else "NOT READY"
        line = f"Done: {label}, overall score {views.pct(assessment.overall)}."
        if stopped:
            line = (
                f"Stopped. {label}, overall score {views.pct(assessment.overall)}; questions "
                "the run did not finish keep their earlier finding (or are NOT ASSESSED)."
            )
        self.status.value = self._status_line(line)
        self.progress.bar_style = "success" if assessment.ready else "danger"
        if not _in_kernel():
            print(f"Verdict: {label} (overall score {views.pct(assessment.overall)})")

    def _show_failure(self, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        interrupted = isinstance(exc, KeyboardInterrupt)
        with self._lock:
            rows = list(self._rows.values())
        self.summary.value = views.styled(
            views.progress_html(
                self.system.name,
                rows,
                headline="The assessment was interrupted"
                if interrupted
                else "The assessment did not run",
                note="" if interrupted else f"{type(exc).__name__}: {message}",
            )
        )
        self.status.value = self._status_line(
            "Interrupted." if interrupted else f"Not run: {message}"
        )

    @staticmethod
    def _status_line(text: str) -> str:
        return f'<span style="padding-left:0.6em">{views.escape(text)}</span>'

    # -- display --------------------------------------------------------------------------

    def static_html(self) -> str:
        """The dashboard's content as plain HTML (for places with no widget manager)."""
        if self.assessment is None:
            return views.styled(
                views.dashboard_intro_html(self.system.name)
                + "".join(views.pending_question_html(q.id) for q in QUESTIONS)
            )
        comparison = (
            views.comparison_html(
                [self.previous, self.assessment],
                ["previous run", "this run"],
                title="Compared with the previous run",
            )
            if self.previous is not None
            else ""
        )
        return views.styled(
            views.summary_html(self.assessment)
            + comparison
            + "".join(views.finding_html(f) for f in self.assessment.findings)
        )

    def _bundle(self) -> dict[str, Any]:
        """One bundle: the widget, its static HTML and a short text (for other frontends)."""
        bundle: dict[str, Any] = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = repr(self)
        return bundle

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self._bundle()

    def _ipython_display_(self) -> None:
        """Two outputs: the live widget, and the static HTML of its last state.

        nbconvert's HTML export renders a widget from the widget state saved in the notebook
        with a script it loads from the network: offline, or without a saved state (what
        JupyterLab saves by default), nothing shows. The second output, the static HTML, shows
        then; wherever the live widget renders in the same cell (JupyterLab, an export that
        can load its script), a CSS rule carried by that HTML hides it. Its display id lets the
        end of each run update it, so a notebook saved after a run keeps the last state.
        """
        from IPython.display import display

        widget = dict(self.widget._repr_mimebundle_() or {})
        widget["text/plain"] = ""  # never a text repr in place of the dashboard
        widget["text/html"] = '<div class="pr-widget-placeholder"></div>'
        display(widget, raw=True)  # type: ignore[no-untyped-call]
        display(self._static_bundle(), raw=True, display_id=self._display_id)  # type: ignore[no-untyped-call]
        self._displayed = True

    def _static_bundle(self) -> dict[str, Any]:
        return {
            "text/html": f'<div class="pr-static">{_HIDE_WHEN_LIVE}{self.static_html()}</div>',
            "text/plain": repr(self),
        }

    def _refresh_display(self) -> None:
        """Update the static HTML displayed with the dashboard to its last state.

        The widget itself is live; what this updates is the HTML that a saved notebook keeps
        for readers without a widget manager (an HTML export, a notebook viewer).
        """
        if not self._displayed:
            return
        from IPython.display import update_display

        try:
            update_display(self._static_bundle(), raw=True, display_id=self._display_id)  # type: ignore[no-untyped-call]
        except Exception:  # a display that cannot be updated must not fail the run
            return

    def __repr__(self) -> str:
        name = self.system.name
        if self.assessment is None:
            state = "not run yet; display it in JupyterLab, or call .run()"
        else:
            a = self.assessment
            state = (
                f"{'READY' if a.ready else 'NOT READY'}, overall score {views.pct(a.overall)} "
                f"(run {a.run_id})"
            )
        if self.running:
            state = "running"
        return f"<prodready.Dashboard of {name!r}: {state}>"


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (where the widgets show), False in a script or terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
