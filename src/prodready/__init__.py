"""prodready: is this ML system ready for production?

Assess a system against the ten-question production-readiness checklist::

    import prodready
    system = prodready.load_spec("spec.yaml")          # or prodready.System(...)
    assessment = prodready.assess(system)
    assessment.ready                                   # the CI gate
    assessment.save("results.json")

Headless, ``prodready assess spec.yaml`` (or :func:`run_assessment`) executes the assessment
notebook and renders a self-contained HTML report.

The names below are imported on first use: ``import prodready`` stays cheap, and a tool that
only loads a submodule (nbconvert loads the report exporter at every start) does not pay for
pandas and the probes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "DataError": "prodready._exceptions",
    "MissingDependencyError": "prodready._exceptions",
    "ModelLoadError": "prodready._exceptions",
    "ProdreadyError": "prodready._exceptions",
    "RegistryError": "prodready._exceptions",
    "ReportError": "prodready._exceptions",
    "ServeError": "prodready._exceptions",
    "SpecError": "prodready._exceptions",
    "UsageError": "prodready._exceptions",
    "assess": "prodready.assessment",
    "FleetDashboard": "prodready.fleet._widget",
    "FleetResult": "prodready.fleet",
    "assess_fleet": "prodready.fleet",
    "score": "prodready.assessment",
    "QUESTIONS": "prodready.checklist",
    "Question": "prodready.checklist",
    "Section": "prodready.checklist",
    "get_question": "prodready.checklist",
    "Probe": "prodready.probes",
    "ProbeContext": "prodready.probes",
    "ProbeTimeout": "prodready.probes",
    "registered_probes": "prodready.probes",
    "RunResult": "prodready.report.run",
    "run_assessment": "prodready.report.run",
    "SCHEMA_VERSION": "prodready.results",
    "Assessment": "prodready.results",
    "Chart": "prodready.results",
    "Check": "prodready.results",
    "Finding": "prodready.results",
    "Status": "prodready.results",
    "Table": "prodready.results",
    "load_spec": "prodready.spec",
    "Endpoint": "prodready.system",
    "Metadata": "prodready.system",
    "Policy": "prodready.system",
    "Registry": "prodready.system",
    "System": "prodready.system",
    "Dashboard": "prodready.widgets",
}

__all__ = [
    "QUESTIONS",
    "SCHEMA_VERSION",
    "Assessment",
    "Chart",
    "Check",
    "Dashboard",
    "DataError",
    "Endpoint",
    "Finding",
    "FleetDashboard",
    "FleetResult",
    "Metadata",
    "MissingDependencyError",
    "ModelLoadError",
    "Policy",
    "Probe",
    "ProbeContext",
    "ProbeTimeout",
    "ProdreadyError",
    "Question",
    "Registry",
    "RegistryError",
    "ReportError",
    "RunResult",
    "Section",
    "ServeError",
    "SpecError",
    "Status",
    "System",
    "Table",
    "UsageError",
    "__version__",
    "assess",
    "assess_fleet",
    "get_question",
    "load_spec",
    "registered_probes",
    "run_assessment",
    "score",
]

if TYPE_CHECKING:
    from prodready._exceptions import (
        DataError,
        MissingDependencyError,
        ModelLoadError,
        ProdreadyError,
        RegistryError,
        ReportError,
        SpecError,
        UsageError,
    )
    from prodready.assessment import assess, score
    from prodready.checklist import QUESTIONS, Question, Section, get_question
    from prodready.fleet import FleetResult, assess_fleet
    from prodready.fleet._widget import FleetDashboard
    from prodready.probes import Probe, ProbeContext, ProbeTimeout, registered_probes
    from prodready.report.run import RunResult, run_assessment
    from prodready.results import (
        SCHEMA_VERSION,
        Assessment,
        Chart,
        Check,
        Finding,
        Status,
        Table,
    )
    from prodready.spec import load_spec
    from prodready.system import Endpoint, Metadata, Policy, Registry, System
    from prodready.widgets import Dashboard


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prodready' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
