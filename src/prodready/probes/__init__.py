"""The probe registry: which probe answers which checklist question.

Built-in probes are listed here; plug-ins add or replace probes through the entry-point group
``prodready.probes`` (entry-point name = question id, value = a :class:`Probe` subclass), in
the way papermill fills its engine registry. A question with no probe is reported as
"not assessed", never as passing.
"""

from __future__ import annotations

import traceback
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points

from prodready.checklist import QUESTIONS
from prodready.probes._base import Probe, ProbeCancelled, ProbeContext, ProbeTimeout
from prodready.probes._scoring import Failure, Scoring, score_model
from prodready.probes.approval import ApprovalProbe
from prodready.probes.compliance import ComplianceProbe
from prodready.probes.explainability import ExplainabilityProbe
from prodready.probes.graceful_failure import GracefulFailureProbe
from prodready.probes.lineage import LineageProbe
from prodready.probes.load import LoadProbe
from prodready.probes.monitoring import MonitoringProbe
from prodready.probes.retraining import RetrainingProbe
from prodready.probes.rollback import RollbackProbe
from prodready.probes.vendor_independence import VendorIndependenceProbe

__all__ = [
    "ENTRY_POINT_GROUP",
    "ApprovalProbe",
    "ComplianceProbe",
    "ExplainabilityProbe",
    "Failure",
    "GracefulFailureProbe",
    "LineageProbe",
    "LoadProbe",
    "MonitoringProbe",
    "Probe",
    "ProbeCancelled",
    "ProbeContext",
    "ProbeSpec",
    "ProbeTimeout",
    "RetrainingProbe",
    "RollbackProbe",
    "Scoring",
    "VendorIndependenceProbe",
    "builtin_probes",
    "plugin_problems",
    "registered_probes",
    "score_model",
]

ENTRY_POINT_GROUP = "prodready.probes"


@dataclass(frozen=True)
class ProbeSpec:
    """A registry entry: the probe class for a question, or why it could not be loaded.

    ``origin`` says where it came from ("module:Class", or the entry point's value), so a
    report shows which code produced each finding.
    """

    question: str
    origin: str
    probe: type[Probe] | None = None
    load_error: str | None = None


def builtin_probes() -> dict[str, type[Probe]]:
    """The probes prodready ships, by question id."""
    return {
        p.question: p
        for p in (
            LoadProbe,
            GracefulFailureProbe,
            MonitoringProbe,
            ExplainabilityProbe,
            ComplianceProbe,
            LineageProbe,
            RetrainingProbe,
            RollbackProbe,
            ApprovalProbe,
            VendorIndependenceProbe,
        )
    }


def plugin_problems() -> list[str]:
    """Plug-ins of the ``prodready.probes`` group that cannot answer any question, in words.

    An entry point whose name is not a question id ("Q11") is ignored by the registry; the
    assessment records these sentences in ``Assessment.notes`` so that the report and the
    command line say so (a warning alone is lost in a notebook).
    """
    known = {q.id for q in QUESTIONS}
    return [
        f"ignored the probe plug-in {ep.name[:40]}={ep.value[:120]}: {ep.name[:40]!r} is not "
        "a checklist question id (Q1..Q10)"
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.name not in known
    ]


def registered_probes() -> dict[str, ProbeSpec]:
    """Built-in probes overlaid with the plug-ins of the ``prodready.probes`` group.

    A plug-in that fails to import, or names no checklist question, is kept as an entry with
    ``load_error`` so the assessment reports it as an ERROR instead of silently dropping it.
    """
    specs = {
        q: ProbeSpec(q, f"{cls.__module__}:{cls.__qualname__}", cls)
        for q, cls in builtin_probes().items()
    }
    known = {q.id for q in QUESTIONS}
    for problem in plugin_problems():
        warnings.warn(problem, stacklevel=2)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in known:
            continue
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Probe)):
                raise TypeError(f"{ep.value} is not a prodready.Probe subclass")
            specs[ep.name] = ProbeSpec(ep.name, ep.value, cls)
        except Exception:
            specs[ep.name] = ProbeSpec(ep.name, ep.value, load_error=traceback.format_exc())
    return specs
