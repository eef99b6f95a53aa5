"""The ten questions of the production-readiness checklist, worded as the user reads them.

Source: the "Production Readiness Checklist: 10 Questions Every CTO Should Ask" (see
shared/seeds). Each question belongs to one section; the readiness score is computed per
section and the overall score is the minimum, so strength in one section cannot hide a hole
in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["QUESTIONS", "Question", "Section", "get_question"]


class Section(StrEnum):
    """A section of the checklist."""

    TECHNICAL = "technical"
    GOVERNANCE = "governance"
    OPERATIONAL = "operational"


@dataclass(frozen=True)
class Question:
    """One checklist question.

    ``id`` is the stable identifier used everywhere ("Q1".."Q10"), ``key`` a short name for
    code and CLI, ``text`` the question as the checklist words it, ``title`` a heading.
    """

    id: str
    key: str
    section: Section
    text: str
    title: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "Q1",
        "load",
        Section.TECHNICAL,
        "Can the system handle 10x current load without degradation?",
        "Load at 10x",
    ),
    Question(
        "Q2",
        "graceful_failure",
        Section.TECHNICAL,
        "Does it fail gracefully when encountering unexpected data?",
        "Graceful failure",
    ),
    Question(
        "Q3",
        "monitoring",
        Section.TECHNICAL,
        "Can model performance be monitored in real-time?",
        "Monitoring and drift",
    ),
    Question(
        "Q4",
        "rollback",
        Section.TECHNICAL,
        "Are rollback procedures automated and tested?",
        "Rollback",
    ),
    Question(
        "Q5",
        "explainability",
        Section.GOVERNANCE,
        "Is every AI decision traceable and explainable?",
        "Traceability and explanations",
    ),
    Question(
        "Q6",
        "compliance",
        Section.GOVERNANCE,
        "Can the system generate compliance reports automatically?",
        "Compliance report",
    ),
    Question(
        "Q7",
        "lineage",
        Section.GOVERNANCE,
        "Are data lineage and model provenance fully documented?",
        "Lineage and provenance",
    ),
    Question(
        "Q8",
        "approval",
        Section.GOVERNANCE,
        "Do approval workflows exist for model updates?",
        "Approval workflow",
    ),
    Question(
        "Q9",
        "retraining",
        Section.OPERATIONAL,
        "Can the system retrain itself when performance degrades?",
        "Self-retraining",
    ),
    Question(
        "Q10",
        "vendor_independence",
        Section.OPERATIONAL,
        "Is the infrastructure independent of specific vendors or platforms?",
        "Vendor independence",
    ),
)

_BY_NAME = {q.id: q for q in QUESTIONS} | {q.key: q for q in QUESTIONS}


def get_question(name: str) -> Question:
    """Return the question with this id ("Q3") or key ("monitoring")."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(q.id for q in QUESTIONS)
        raise KeyError(
            f"unknown question {name!r} (expected one of {known} or their keys)"
        ) from None
