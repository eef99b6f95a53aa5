"""Headless assessment: the publishing path, as stages.

``run_assessment`` checks the input in this process first (the spec is parsed, the model and
data loaded, every selected probe preflighted), so bad input costs no kernel start. Then the
run goes through :data:`STAGES`, each working in a hidden temporary folder beside the final
one:

1. ``execute``: papermill runs the assessment notebook, which writes ``results.json``;
2. ``render``: nbconvert renders the executed notebook into the offline ``report.html``;

and only when every stage succeeded, ``publish`` renames the folder into ``<out>/<run-id>/``,
so a failed or interrupted run never leaves a half-written report behind. Later stages
(signing the run folder, appending it to a ledger) slot in after ``render``.

The run folder holds ``assessment.ipynb`` (the executed notebook), ``results.json`` (the
machine-readable results) and ``report.html`` (the self-contained, offline audit report).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodready._exceptions import ReportError, SpecError, UsageError
from prodready._paths import templates_dir
from prodready.assessment import new_run_id
from prodready.results import Assessment

__all__ = ["STAGES", "RunResult", "RunState", "run_assessment"]


def _subclasses(cls: type) -> set[type]:
    found: set[type] = {cls}
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found |= _subclasses(sub)
    return found


# Errors raised inside the kernel that mean "the user's input is wrong" (exit code 2): the
# whole UsageError tree, so a new kind of bad input needs no change here.
_USAGE_ERRORS = frozenset(cls.__name__ for cls in _subclasses(UsageError))


@dataclass
class RunState:
    """What the stages of one run share: inputs, the work folder, and what each produced."""

    spec: Path
    work: Path
    run_id: str
    drift_engine: str
    questions: list[str] | None
    cell_timeout_s: int | None
    notebook: Any = None
    assessment: Assessment | None = None


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder and the assessment it wrote."""

    directory: Path
    assessment: Assessment

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.directory / "report.html"

    @property
    def results(self) -> Path:
        """results.json."""
        return self.directory / "results.json"

    @property
    def notebook(self) -> Path:
        """The executed notebook."""
        return self.directory / "assessment.ipynb"


def run_assessment(
    spec: str | Path,
    out: str | Path = "reports",
    *,
    drift_engine: str = "",
    run_id: str | None = None,
    questions: list[str] | None = None,
    cell_timeout_s: int | None = 1800,
) -> RunResult:
    """Assess the system of ``spec`` headless and write ``<out>/<run-id>/``.

    ``drift_engine`` overrides the spec's ``monitoring.engine`` ("auto", "scipy", "alibi");
    empty keeps the spec's. ``questions`` (ids or keys) makes a partial assessment of those
    questions only. ``cell_timeout_s`` bounds each notebook cell (None: no limit; the probes
    also have their own ``policy.probe_timeout_s``). Raises :class:`UsageError` for bad input
    (found before any kernel starts, or by the notebook) and :class:`ReportError` for
    anything else that stopped the run.
    """
    spec_path = Path(spec).resolve()
    if not spec_path.is_file():
        raise SpecError(
            "the spec file does not exist",
            source=str(spec),
            expected="a YAML spec file (see the README)",
        )
    _check_input(spec, drift_engine, questions)
    run_id = run_id or new_run_id()
    # Absolute: the notebook runs with the spec's folder as its working directory.
    out_dir = Path(out).resolve()
    final = out_dir / run_id
    if final.exists():
        raise UsageError(f"{final} already exists: choose another run id or output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Same parent as the final folder, so publishing is an atomic rename.
    work = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".partial", dir=out_dir))
    state = RunState(spec_path, work, run_id, drift_engine, questions, cell_timeout_s)
    try:
        for _name, stage in STAGES:
            stage(state)
        assert state.assessment is not None
        _publish(state, final)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return RunResult(final, state.assessment)


def _check_input(spec: str | Path, drift_engine: str, questions: list[str] | None) -> None:
    """Parse the spec, load its system and preflight the probes here, before any kernel."""
    from prodready.assessment import preflight, select_questions
    from prodready.probes import registered_probes
    from prodready.spec import load_spec

    selected = {q.id for q in select_questions(questions)}  # cheap: before loading anything
    system = load_spec(spec)
    if drift_engine:
        system = system.with_settings("monitoring", engine=drift_engine)
    preflight(system, [p for q, p in registered_probes().items() if q in selected])


def _execute(state: RunState) -> None:
    """Stage 1: papermill runs the notebook; it writes results.json into the work folder."""
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    output = state.work / "assessment.ipynb"
    try:
        state.notebook = papermill.execute_notebook(
            str(templates_dir() / "assessment.ipynb"),
            str(output),
            parameters={
                "spec": str(state.spec),
                "results_path": str(state.work / "results.json"),
                "run_id": state.run_id,
                "drift_engine": state.drift_engine,
                "questions": ",".join(state.questions or []),
            },
            # "python3" is ipykernel's built-in spec: the kernel runs in this interpreter.
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=state.cell_timeout_s,
            cwd=str(state.spec.parent),
            # The kernel talks to us over loopback only; its start-up chatter is not news.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        if exc.ename in _USAGE_ERRORS:
            raise UsageError(exc.evalue) from None
        raise ReportError(
            f"the assessment notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        ) from None
    except CellTimeoutError as exc:
        raise ReportError(f"the assessment notebook timed out: {exc}") from None
    state.assessment = Assessment.load(state.work / "results.json")


def _render(state: RunState) -> None:
    """Stage 2: nbconvert renders the executed notebook into the offline report.html."""
    import nbformat

    from prodready.report.exporter import render_html

    assert state.assessment is not None
    a = state.assessment
    state.notebook.metadata["prodready"] = {
        "title": f"Production readiness: {a.system.get('name', '')}"
        + (f" ({a.scope})" if a.partial else ""),
        "run_id": a.run_id,
        "verdict": a.verdict,
        "scope": a.scope,
    }
    nbformat.write(state.notebook, str(state.work / "assessment.ipynb"))
    (state.work / "report.html").write_text(render_html(state.notebook), encoding="utf-8")


def _publish(state: RunState, final: Path) -> None:
    """Last: make the finished folder readable and rename it into place, atomically."""
    state.work.chmod(0o755)  # mkdtemp made it private; a report is for others to read
    state.work.rename(final)


#: The stages of a run, in order; each takes the run's state and adds to it.
STAGES: tuple[tuple[str, Callable[[RunState], None]], ...] = (
    ("execute", _execute),
    ("render", _render),
)
