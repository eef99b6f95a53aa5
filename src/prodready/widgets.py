"""The JupyterLab dashboard: run an assessment and watch the findings arrive.

``Dashboard(system)`` shows a Run button, a progress bar, the executive summary and one
collapsible panel per checklist question, updated live as each probe finishes. The panels
hold the same HTML as the report (:mod:`prodready.views`), so what the data scientist sees is
what the risk officer reads. Displayed where no widget manager runs (a static HTML export),
it falls back to that HTML instead of a widget's text repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodready import views
from prodready.assessment import assess
from prodready.checklist import QUESTIONS
from prodready.probes import Probe, ProbeSpec
from prodready.results import Assessment, Finding
from prodready.system import System

__all__ = ["Dashboard"]


class Dashboard:
    """A live ipywidgets view of the assessment of ``system``.

    ``probes`` is passed to :func:`prodready.assess` (default: the registry). Click "Run
    assessment" or call :meth:`run`; the last result is in :attr:`assessment`.
    """

    def __init__(
        self, system: System, *, probes: Mapping[str, type[Probe] | ProbeSpec] | None = None
    ) -> None:
        import ipywidgets as w

        self.system = system
        self.probes = probes
        self.assessment: Assessment | None = None
        self.button = w.Button(
            description="Run assessment",
            button_style="primary",
            icon="play",
            tooltip="Run every probe on the system",
        )
        self.progress = w.IntProgress(
            value=0, min=0, max=len(QUESTIONS), description=f"0/{len(QUESTIONS)}"
        )
        self.summary = w.HTML(value=f"<p>{views.escape(system.name)}: not assessed yet.</p>")
        self.panels = [w.HTML() for _ in QUESTIONS]
        self.details = w.Accordion(children=self.panels)
        for i, q in enumerate(QUESTIONS):
            self.details.set_title(i, f"{q.id}. {q.title}")
        self.widget = w.VBox([w.HBox([self.button, self.progress]), self.summary, self.details])
        self.button.on_click(lambda _button: self.run())

    def run(self) -> Assessment:
        """Assess the system now, updating the panels as findings arrive."""
        self.button.disabled = True
        self.progress.value = 0
        self.summary.value = "<p>Assessing…</p>"
        try:
            self.assessment = assess(self.system, probes=self.probes, on_finding=self._show_finding)
        finally:
            self.button.disabled = False
        self.summary.value = views.summary_html(self.assessment)
        return self.assessment

    def _show_finding(self, finding: Finding) -> None:
        index = next(i for i, q in enumerate(QUESTIONS) if q.id == finding.question)
        self.panels[index].value = views.finding_html(finding)
        self.details.set_title(
            index, f"{QUESTIONS[index].id}. {QUESTIONS[index].title} — {finding.status.label}"
        )
        self.progress.value += 1
        self.progress.description = f"{self.progress.value}/{len(QUESTIONS)}"

    def static_html(self) -> str:
        """The dashboard's content as plain HTML (for places with no widget manager)."""
        if self.assessment is None:
            return str(self.summary.value)
        return views.summary_html(self.assessment) + "".join(
            views.finding_html(f) for f in self.assessment.findings
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.static_html()
        bundle.pop("text/plain", None)
        return bundle
