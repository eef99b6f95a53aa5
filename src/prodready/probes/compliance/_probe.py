"""Q6 — Can the system generate compliance reports automatically?

The compliance report is the assessment's own report. This probe runs after the other
questions (:attr:`~prodready.Probe.after_others`) and judges, from their findings:

- the **model card** (:mod:`._card`): intended use, owner, training data, metrics,
  limitations, out-of-scope uses, filled from the spec's ``metadata:`` and the measured
  results; a required field left empty FAILs, named (``metadata.owner``);
- the **regulatory mapping** (:mod:`._mapping`): each item of each checklist in
  ``compliance.frameworks`` (SR 11-7, EU AI Act Annex IV; :mod:`._checklists`) present,
  partial or missing, with the report section that evidences it. A required item missing
  FAILs; one partial WARNs; one missing only because its evidence was not assessed in this
  run (a partial assessment) keeps the question from passing without failing it;
- **no manual step** (:mod:`._automation`): the run came from a spec, could not have
  waited for input, and the report pipeline renders its findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from prodready._settings import quote, require
from prodready.probes._base import Probe, ProbeContext
from prodready.probes.compliance._automation import check_automation
from prodready.probes.compliance._card import Metrics, measured_metrics, model_card
from prodready.probes.compliance._checklists import (
    BUNDLED,
    Checklist,
    bundled_checklist,
    load_checklist,
)
from prodready.probes.compliance._mapping import MappedChecklist, Ref, map_checklist
from prodready.results import Check, Evidence, Finding, Status
from prodready.system import Metadata, System

__all__ = ["ComplianceProbe", "ComplianceSettings"]

_METADATA_FIELDS = tuple(f.name for f in fields(Metadata))


def _default_required() -> list[str]:
    return ["owner", "intended_use", "out_of_scope_uses", "training_data", "limitations"]


@dataclass(frozen=True)
class ComplianceSettings:
    """Settings of the compliance probe (the spec's ``compliance:`` section).

    - ``frameworks``: the bundled checklists to map the evidence to: ``sr11-7`` (the Federal
      Reserve's SR 11-7 model risk management guidance) and ``eu-ai-act-annex-iv`` (the EU
      AI Act's Annex IV technical documentation). An empty list maps none of them.
    - ``checklists``: more checklist files of your own (YAML, the format of the bundled ones;
      see docs/compliance.md), relative to the spec's folder.
    - ``required_metadata``: the ``metadata:`` fields the model card must have; each one left
      empty FAILs the question, named.
    - ``render_check``: render this run's findings through the report's exporter to show
      the report pipeline works (about a second).
    """

    frameworks: list[str] = field(default_factory=lambda: list(BUNDLED))
    checklists: list[str] = field(default_factory=list)
    required_metadata: list[str] = field(default_factory=_default_required)
    render_check: bool = True

    def __post_init__(self) -> None:
        for i, name in enumerate(self.frameworks):
            require(
                name in BUNDLED,
                f"frameworks[{i}]",
                f"is {quote(name)}",
                "one of " + ", ".join(BUNDLED) + " (or a file of your own under checklists)",
            )
        for i, name in enumerate(self.required_metadata):
            require(
                name in _METADATA_FIELDS,
                f"required_metadata[{i}]",
                f"is {quote(name)}",
                "a metadata field: " + ", ".join(_METADATA_FIELDS),
            )


class ComplianceProbe(Probe):
    """The compliance report: model card, regulatory mapping, produced with no manual step."""

    question = "Q6"
    settings_class = ComplianceSettings
    after_others = True

    def preflight(self, system: System) -> None:
        self._checklists(system)  # reads the settings; a bad checklist file is a SpecError

    def _checklists(self, system: System) -> list[Checklist]:
        settings: ComplianceSettings = self.settings(system)
        lists = [bundled_checklist(name) for name in settings.frameworks]
        base = Path(system.source).parent
        for i, name in enumerate(settings.checklists):
            path = Path(name) if Path(name).is_absolute() else base / name
            lists.append(
                load_checklist(path, field=f"compliance.checklists[{i}]", source=system.source)
            )
        return lists

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: ComplianceSettings = self.settings(system)
        findings = [f for f in context.findings if f.question != self.question]
        if self.declared_absent(system):
            return Finding(
                question=self.question,
                status=Status.FAIL,
                summary="The spec declares that the system has no compliance reporting "
                "(compliance: none).",
                remediation="Remove 'compliance: none' and fill the spec's metadata: (owner, "
                "intended_use, out_of_scope_uses, training_data, limitations): prodready then "
                "generates the model card and the regulatory mapping with every run.",
            )
        context.report("model card")
        metrics = measured_metrics(findings)
        card = model_card(system, findings, settings.required_metadata, metrics)
        context.report("report pipeline", 0.2)
        automation = check_automation(system, findings, settings.render_check)
        context.check_deadline()
        facts = _facts(card.missing, metrics, automation.status, bool(automation.not_assessed))
        context.report("regulatory mapping", 0.8)
        mapped = [map_checklist(c, system, findings, facts) for c in self._checklists(system)]

        checks = [_card_check(card.missing, settings.required_metadata)]
        checks += [_mapping_check(m) for m in mapped]
        checks += automation.checks
        not_assessed = list(automation.not_assessed)
        for m in mapped:
            unjudged = m.required("unjudged")
            if unjudged:
                not_assessed.append(
                    f"{m.checklist.id}: required items evidenced by questions not assessed in "
                    f"this run: {', '.join(unjudged)}"
                )
        status = Finding.worst(checks)
        evidence: list[Evidence] = [card.table, *(m.table for m in mapped)]
        return Finding(
            question=self.question,
            status=status,
            summary=_summary(card.missing, mapped, automation.status),
            checks=checks,
            measurements={
                "model_card": card.parts,
                "missing_metadata": card.missing,
                "metrics": metrics.values,
                "mapping": {
                    m.checklist.id: {
                        **m.counts(),
                        "required_missing": m.required("missing"),
                        "required_incomplete": m.required("incomplete"),
                        "required_not_in_run": m.required("unjudged"),
                        "items": {x.item.id: x.status for x in m.items},
                    }
                    for m in mapped
                },
                "automation": automation.measurements,
            },
            thresholds={
                "required_metadata": list(settings.required_metadata),
                "frameworks": [m.checklist.id for m in mapped],
                "required_items": "evidenced (part of the evidence missing WARNs, none FAILs)",
            },
            evidence=evidence,
            remediation=_remediation(card.missing, mapped, checks),
            not_assessed=not_assessed,
        )


def _facts(
    missing: list[str], metrics: Metrics, automation: Status, unshown: bool
) -> dict[str, Ref]:
    """The evidence this probe judges itself, for the mapping."""
    card = Ref(
        "model_card",
        "missing" if missing else "present",
        "model card: " + ("missing " + ", ".join(missing) if missing else "complete"),
        "#q6",
    )
    if metrics.values:
        measured = Ref("metrics", "present", "model performance measured (Q3)", "#q3")
    elif not metrics.in_run:
        anchor = "#q3" if metrics.errored else ""  # no section for a question not in the run
        measured = Ref("metrics", "outside", f"metrics: {metrics.why}", anchor)
    else:
        measured = Ref("metrics", "missing", f"metrics: {metrics.why}", "#q3")
    if automation is Status.FAIL:
        report = Ref("automated_report", "missing", "report pipeline failed", "#q6")
    elif unshown or automation is Status.WARN:
        report = Ref("automated_report", "shortfall", "no manual step: not fully shown", "#q6")
    else:
        report = Ref("automated_report", "present", "report produced headless from the spec", "#q6")
    return {"model_card": card, "metrics": measured, "automated_report": report}


def _card_check(missing: list[str], required: list[str]) -> Check:
    return Check(
        name="model card complete",
        status=Status.FAIL if missing else Status.PASS,
        measured=missing or "all given",
        threshold="given: " + (", ".join(f"metadata.{r}" for r in required) or "nothing"),
        message=(
            "The model card lacks required fields: " + ", ".join(missing) + "."
            if missing
            else f"The model card has all {len(required)} required fields, and this run's "
            "measured results."
        ),
    )


def _mapping_check(m: MappedChecklist) -> Check:
    missing, incomplete = m.required("missing"), m.required("incomplete")
    unjudged = m.required("unjudged")
    counts = m.counts()
    tally = f"{counts['present']} present, {counts['partial']} partial, {counts['missing']} missing"
    if missing:
        status = Status.FAIL
        message = f"Required items without any evidence: {', '.join(missing)} ({tally})."
    elif incomplete or unjudged:
        status = Status.WARN
        parts = []
        if incomplete:
            parts.append(
                f"required items with part of their evidence missing: {', '.join(incomplete)}"
            )
        if unjudged:
            parts.append(f"required items not assessed in this run: {', '.join(unjudged)}")
        text = "; ".join(parts)
        message = text[:1].upper() + text[1:] + f" ({tally})."
    else:
        status = Status.PASS
        message = (
            f"Every required item has its evidence in the report ({tally}; a partial item's "
            "shortfall counts against its own question)."
        )
    return Check(
        name=f"mapping: {m.checklist.id}",
        status=status,
        measured=tally,
        threshold="every required item evidenced",
        message=message,
    )


def _summary(missing: list[str], mapped: list[MappedChecklist], automation: Status) -> str:
    parts = [
        "model card lacks " + ", ".join(missing) if missing else "model card complete",
    ]
    for m in mapped:
        counts = m.counts()
        lost = m.required("missing")
        parts.append(
            f"{m.checklist.id}: {counts['present']}/{len(m.items)} items present"
            + (f", required without evidence: {', '.join(lost)}" if lost else "")
        )
    parts.append(
        {
            Status.PASS: "report produced headless from the spec",
            Status.WARN: "no manual step not fully shown by this run",
        }.get(automation, "the report pipeline failed")
    )
    text = "; ".join(parts) + "."
    return text[:1].upper() + text[1:]


def _remediation(missing: list[str], mapped: list[MappedChecklist], checks: list[Check]) -> str:
    steps = []
    if missing:
        steps.append(f"Fill {', '.join(missing)} in the spec's metadata: section.")
    lost = sorted({i for m in mapped for i in (*m.required("missing"), *m.required("incomplete"))})
    if lost:
        steps.append(
            "Provide the evidence of the required items lacking it ("
            + ", ".join(lost)
            + "): each row of the mapping names the question or field that evidences it; "
            "make that question pass or give that field."
        )
    failed = [c.name for c in checks if c.status is Status.FAIL and c.name == "report renders"]
    if failed:
        steps.append("Reinstall prodready with its templates so that the report can render.")
    warned = [c for c in checks if c.status is Status.WARN]
    if warned and not steps:
        steps.append(" ".join(c.message for c in warned))
    return " ".join(steps)
