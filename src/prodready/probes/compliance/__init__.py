"""Q6 — Can the system generate compliance reports automatically? (see :mod:`._probe`)."""

from prodready.probes.compliance._checklists import BUNDLED, Checklist, Item, load_checklist
from prodready.probes.compliance._probe import ComplianceProbe, ComplianceSettings

__all__ = [
    "BUNDLED",
    "Checklist",
    "ComplianceProbe",
    "ComplianceSettings",
    "Item",
    "load_checklist",
]
