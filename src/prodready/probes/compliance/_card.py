"""The model card: what the spec says about the model, and what this run measured.

The parts a person supplies come from the spec's ``metadata:`` (owner, intended use,
out-of-scope uses, training data, limitations...); the parts prodready knows come from the
system (the model artifact and data files with their digests) and from the other questions'
findings (model performance from Q3, each question's result). Nothing here renders: the card
is a :class:`~prodready.Table` the views draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from prodready.checklist import get_question
from prodready.results import Finding, Status, Table
from prodready.system import Metadata, System

__all__ = ["CARD_PARTS", "Card", "Metrics", "measured_metrics", "model_card"]

#: The model card's metadata parts, in the order a reader expects, with their labels.
CARD_PARTS: dict[str, str] = {
    "owner": "Owner",
    "contact": "Contact",
    "intended_use": "Intended use",
    "out_of_scope_uses": "Out-of-scope uses",
    "description": "Description",
    "training_data": "Training data",
    "limitations": "Limitations",
}
_MAX_VALUE_CHARS = 1_000


@dataclass
class Metrics:
    """Model performance measured in this run: ``text`` for the card, ``values`` by data.

    ``values`` maps "reference" / "current" to {metric: value}; empty with ``why`` saying
    why nothing was measured (``in_run`` False: Q3 was not assessed in this run, or its probe
    ERRORed, ``errored``: prodready could not measure it, which is no fault of the system).
    """

    text: str
    values: dict[str, dict[str, float]]
    why: str = ""
    in_run: bool = True
    errored: bool = False


@dataclass
class Card:
    """The model card: its table, its parts as values, and the required fields left empty."""

    table: Table
    parts: dict[str, str]
    missing: list[str]


def measured_metrics(findings: Sequence[Finding]) -> Metrics:
    """The model performance Q3 measured (every metric it reports), from its finding."""
    q3 = next((f for f in findings if f.question == "Q3"), None)
    if q3 is None:
        return Metrics("", {}, "Q3 (monitoring) was not assessed in this run", in_run=False)
    if q3.status is Status.ERROR:
        why = "Q3 (monitoring) ERRORed: prodready could not measure it"
        return Metrics("", {}, why, in_run=False, errored=True)
    performance = q3.measurements.get("performance")
    values: dict[str, dict[str, float]] = {}
    if isinstance(performance, dict):
        every = performance.get("all")
        if isinstance(every, dict):
            for which in ("reference", "current"):
                scores = every.get(which)
                if isinstance(scores, dict):
                    kept = {str(k): float(v) for k, v in scores.items() if _finite_number(v)}
                    if kept:
                        values[which] = kept
    if not values:
        why = ""
        if isinstance(performance, dict) and isinstance(performance.get("why_unmeasurable"), str):
            why = performance["why_unmeasurable"]
        return Metrics(
            "",
            {},
            f"Q3 ({q3.status.label}) measured no model performance"
            + (f": {why}" if why else " (no labelled data, or it could not score it)"),
        )
    metrics = sorted({m for scores in values.values() for m in scores})
    text = "; ".join(
        f"{m}: "
        + ", ".join(
            f"{values[which][m]:.4g} on {which} data" for which in values if m in values[which]
        )
        for m in metrics
    )
    return Metrics(text + " (measured by Q3 in this run)", values)


def model_card(
    system: System, findings: Sequence[Finding], required: Sequence[str], metrics: Metrics
) -> Card:
    """The model card of ``system``: metadata, model, data, metrics and results of this run.

    ``required`` names the metadata fields that must be given; those left empty are
    ``missing`` (as ``metadata.<field>``).
    """
    meta = system.metadata
    given = {f.name: _clean(getattr(meta, f.name)) for f in fields(Metadata)}
    missing = [f"metadata.{name}" for name in required if not given.get(name)]
    rows: list[list[Any]] = []
    parts: dict[str, str] = {}
    for name, label in CARD_PARTS.items():
        value = given.get(name, "")
        parts[name] = value
        if value:
            shown = value
        elif name in required:
            shown = f"MISSING: set metadata.{name} in the spec"
        else:
            shown = "not given"
        rows.append([label, shown, f"spec: metadata.{name}"])
    model = _model_text(system)
    data = _data_text(system)
    parts["model"], parts["evaluation_data"] = model, data
    rows.append(["Model", model, "the system (model artifact)"])
    rows.append(["Evaluation data", data, "the system (data files)"])
    parts["metrics"] = metrics.text or f"none measured: {metrics.why}"
    rows.append(["Metrics", parts["metrics"], "Q3 finding" if metrics.in_run else "—"])
    for f in findings:
        if f.question == "Q6":
            continue
        q = get_question(f.question)
        rows.append(
            [
                f"Result: {q.id} {q.title}",
                f"{f.status.label}: {_clean(f.summary)}",
                f"{q.id} finding",
            ]
        )
    note = (
        "Filled from the spec's metadata and this run's findings; required fields left empty: "
        + ", ".join(missing)
        + "."
        if missing
        else "Filled from the spec's metadata and this run's findings."
    )
    return Card(Table("Model card", ["part", "content", "from"], rows, note=note), parts, missing)


def _model_text(system: System) -> str:
    described = system.describe()
    text = str(described.get("model_type", ""))
    artifact = system.model_artifact
    if artifact is not None:
        text += f", from {artifact.location} ({artifact.format or 'unknown format'}"
        text += f", sha256 {artifact.sha256})" if artifact.sha256 else ", no digest)"
    return text


def _data_text(system: System) -> str:
    rows = {"reference": len(system.reference)}
    if system.current is not None:
        rows["current"] = len(system.current)
    parts = []
    for which, count in rows.items():
        artifact = system.data_artifacts.get(which)
        where = "" if artifact is None else f" {artifact.location}"
        digest = "" if artifact is None or not artifact.sha256 else f", sha256 {artifact.sha256}"
        parts.append(f"{which}:{where} ({count:,} rows{digest})")
    target = f"; target {system.target}" if system.target else "; no target column"
    return "; ".join(parts) + target


def _clean(value: Any) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
