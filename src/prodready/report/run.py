"""Headless assessment: execute the assessment notebook with papermill, render it with
nbconvert, and publish the run folder ``<out>/<run-id>/`` only when everything succeeded.

The run folder holds ``assessment.ipynb`` (the executed notebook), ``results.json`` (the
machine-readable results) and ``report.html`` (the self-contained, offline audit report).
Everything is written into a hidden temporary folder beside it and renamed into place at the
end, so a failed or interrupted run never leaves a half-written report behind.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodready._exceptions import (
    DataError,
    MissingDependencyError,
    ModelLoadError,
    ReportError,
    SpecError,
    UsageError,
)
from prodready._paths import templates_dir
from prodready.assessment import new_run_id
from prodready.results import Assessment

__all__ = ["RunResult", "run_assessment"]

# Errors raised inside the kernel that mean "the user's input is wrong" (exit code 2).
_USAGE_ERRORS = {
    cls.__name__
    for cls in (UsageError, SpecError, DataError, ModelLoadError, MissingDependencyError)
}


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
    cell_timeout_s: int | None = 1800,
) -> RunResult:
    """Assess the system of ``spec`` headless and write ``<out>/<run-id>/``.

    ``drift_engine`` overrides the spec's ``policy.drift_engine`` ("auto", "scipy",
    "alibi"); empty keeps the spec's. ``cell_timeout_s`` bounds each notebook cell (None: no
    limit; the probes also have their own ``policy.probe_timeout_s``). Raises
    :class:`UsageError` (bad input found by the notebook) or :class:`ReportError` (anything
    else that stopped the run).
    """
    spec_path = Path(spec).resolve()
    if not spec_path.is_file():
        raise SpecError(
            "the spec file does not exist",
            source=str(spec),
            expected="a YAML spec file (see the README)",
        )
    run_id = run_id or new_run_id()
    # Absolute: the notebook runs with the spec's folder as its working directory.
    out_dir = Path(out).resolve()
    final = out_dir / run_id
    if final.exists():
        raise UsageError(f"{final} already exists: choose another run id or output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Same parent as the final folder, so the last step is an atomic rename.
    work = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".partial", dir=out_dir))
    try:
        notebook = _execute(spec_path, work, run_id, drift_engine, cell_timeout_s)
        assessment = Assessment.load(work / "results.json")
        _render(notebook, work, assessment)
        work.chmod(0o755)  # mkdtemp made it private; a report is for others to read
        work.rename(final)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return RunResult(final, assessment)


def _execute(
    spec: Path, work: Path, run_id: str, drift_engine: str, cell_timeout_s: int | None
) -> Any:
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    output = work / "assessment.ipynb"
    try:
        return papermill.execute_notebook(
            str(templates_dir() / "assessment.ipynb"),
            str(output),
            parameters={
                "spec": str(spec),
                "results_path": str(work / "results.json"),
                "run_id": run_id,
                "drift_engine": drift_engine,
            },
            # "python3" is ipykernel's built-in spec: the kernel runs in this interpreter.
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=cell_timeout_s,
            cwd=str(spec.parent),
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


def _render(notebook: Any, work: Path, assessment: Assessment) -> None:
    import nbformat

    from prodready.report.exporter import render_html

    notebook.metadata["prodready"] = {
        "title": f"Production readiness: {assessment.system.get('name', '')}",
        "run_id": assessment.run_id,
        "verdict": assessment.verdict,
    }
    nbformat.write(notebook, str(work / "assessment.ipynb"))
    (work / "report.html").write_text(render_html(notebook), encoding="utf-8")
