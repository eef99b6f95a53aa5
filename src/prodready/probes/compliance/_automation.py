"""Is the compliance report produced with no manual step? What this run can show of it.

Three checks, each on what can honestly be observed from inside the run:

- **from a spec**: the system was loaded from a spec file (``prodready assess SPEC`` repeats
  the whole assessment unattended), not built by hand in Python;
- **no input**: nothing in this run could have waited for a person. In a notebook kernel that
  accepts no input (papermill, ``prodready assess``: nbclient runs cells with
  ``allow_stdin=False``) a prompt from any probe or hook fails the run instead of waiting;
  elsewhere, standard input that is closed or not a terminal (CI, a pipe, pytest) cannot be
  answered by a person. An interactive run (a notebook that accepts input, a terminal) shows
  nothing either way: that part is not assessed;
- **renders**: the report pipeline is installed (the assessment notebook, the nbconvert
  exporter and its template) and renders this run's findings into the offline HTML report:
  the views' sections of every finding, a Content-Security-Policy, no external resource.

What cannot be seen from inside the run is not claimed: whether someone edits the report
afterwards is for the signature of the run folder to show.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodready._settings import first_line
from prodready.results import Chart, Check, Finding, Status
from prodready.system import System

__all__ = ["Automation", "check_automation", "run_is_attended"]


@dataclass
class Automation:
    """The three checks, what was measured, and the parts that could not be assessed."""

    checks: list[Check]
    measurements: dict[str, Any]
    not_assessed: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """The worst of the checks."""
        return Finding.worst(self.checks)


def check_automation(system: System, findings: Sequence[Finding], render: bool) -> Automation:
    """Judge whether this run shows the report needs no manual step (see the module)."""
    checks: list[Check] = []
    measurements: dict[str, Any] = {}
    not_assessed: list[str] = []

    source = Path(system.source)
    if source.suffix.lower() in (".yaml", ".yml") and source.is_file():
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        measurements["spec"] = {"file": source.name, "sha256": digest}
        checks.append(
            Check(
                name="assessment from a spec",
                status=Status.PASS,
                measured=source.name,
                threshold="the system loaded from a spec file",
                message=f"The run is defined by the spec {source.name} (sha256 {digest[:12]}…): "
                f"`prodready assess {source.name}` repeats it unattended.",
            )
        )
    else:
        measurements["spec"] = None
        checks.append(
            Check(
                name="assessment from a spec",
                status=Status.WARN,
                measured=system.source,
                threshold="the system loaded from a spec file",
                message="The system was built in Python, not loaded from a spec file: only the "
                "code that built it can repeat the assessment.",
            )
        )

    attended, how = run_is_attended()
    measurements["input"] = how
    if attended:
        not_assessed.append(
            f"whether the report needs no manual step: this run was interactive ({how}); "
            "run `prodready assess SPEC` (headless, as in CI) to show it"
        )
        checks.append(
            Check(
                name="no input needed",
                status=Status.WARN,
                measured=how,
                threshold="a run that could not have waited for a person",
                message=f"Not shown by this run: it was interactive ({how}).",
            )
        )
    else:
        checks.append(
            Check(
                name="no input needed",
                status=Status.PASS,
                measured=how,
                threshold="a run that could not have waited for a person",
                message=f"This run could not wait for a person ({how}), and it finished: "
                "no step of it needed input.",
            )
        )

    if render:
        checks.append(_render_check([f for f in findings if f.question != "Q6"], measurements))
    return Automation(checks, measurements, not_assessed)


def run_is_attended() -> tuple[bool, str]:
    """Whether a person could answer a prompt during this run, and how that was told.

    A notebook kernel that accepts no input (papermill, nbclient) and standard input that is
    closed or not a terminal are unattended; a kernel that accepts input, or a terminal, is
    attended.
    """
    kernel_stdin = _kernel_allows_stdin()
    if kernel_stdin is not None:
        if kernel_stdin:
            return True, "a notebook kernel that accepts input"
        return False, "a notebook kernel that accepts no input, as under papermill"
    stdin = sys.stdin
    if stdin is None or getattr(stdin, "closed", False):
        return False, "standard input closed"
    try:
        terminal = bool(stdin.isatty())
    except (OSError, ValueError):
        terminal = False
    if terminal:
        return True, "standard input is a terminal"
    return False, "standard input is not a terminal"


def _kernel_allows_stdin() -> bool | None:
    """In an IPython kernel, whether the cell running now may ask for input; else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:  # never imported: not in a kernel, and no reason to import it
        return None
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None
    # ipykernel keeps the current request's allow_stdin here; nbclient sends False.
    allowed = getattr(kernel, "_allow_stdin", None)
    return bool(allowed) if isinstance(allowed, bool) else None


def _render_check(findings: Sequence[Finding], measurements: dict[str, Any]) -> Check:
    """Render the findings so far through the report's exporter, as `prodready assess` does."""
    threshold = "the notebook template and the exporter installed; an offline report renders"
    try:
        from prodready._paths import templates_dir

        notebook_template = templates_dir() / "assessment.ipynb"
        if not notebook_template.is_file():
            raise FileNotFoundError(f"{notebook_template} is missing")
        html = _render(findings)
    except Exception as exc:  # whatever breaks, the report cannot be produced
        measurements["render"] = {"ok": False, "error": first_line(str(exc)) or type(exc).__name__}
        return Check(
            name="report renders",
            status=Status.FAIL,
            measured=False,
            threshold=threshold,
            message="The report pipeline could not render this run's findings: "
            f"{type(exc).__name__}: {first_line(str(exc))}",
        )
    sections = [f.question for f in findings if f'id="{f.question.lower()}"' in html]
    lost = [f.question for f in findings if f.question not in sections]
    policy = 'http-equiv="Content-Security-Policy"' in html
    external = any(s in html for s in ('src="http', "src='http", 'href="http"'))
    ok = not lost and policy and not external
    # No wall-clock time in the finding: two runs of the same system must give the same one.
    measurements["render"] = {
        "ok": ok,
        "bytes": len(html.encode("utf-8", "replace")),
        "sections": sections,
    }
    problems = []
    if lost:
        problems.append("sections missing for " + ", ".join(lost))
    if not policy:
        problems.append("no Content-Security-Policy")
    if external:
        problems.append("an external resource is referenced")
    return Check(
        name="report renders",
        status=Status.PASS if ok else Status.FAIL,
        measured=ok,
        threshold=threshold,
        message=(
            f"The offline HTML report of this run's {len(findings)} other finding(s) (figures "
            f"aside) rendered ({measurements['render']['bytes']:,} bytes, one section each)."
            if ok
            else "The report rendered wrongly: " + "; ".join(problems) + "."
        ),
    )


def _render(findings: Sequence[Finding]) -> str:
    """The report HTML of ``findings`` through the exporter of ``prodready assess``."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from prodready import views
    from prodready.report.exporter import render_html

    # The figures are left out: drawing them again costs seconds and shows nothing new about
    # the pipeline (the report itself draws them).
    cells = [
        new_code_cell(
            source="",
            outputs=[
                new_output(
                    "display_data",
                    data={"text/html": views.finding_html(_without_charts(f))},
                    metadata={},
                )
            ],
        )
        for f in findings
    ]
    return render_html(new_notebook(cells=cells))


def _without_charts(finding: Finding) -> Finding:
    return replace(finding, evidence=[e for e in finding.evidence if not isinstance(e, Chart)])
