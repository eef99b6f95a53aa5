"""Map a run's evidence to a checklist's items: each item present, partial or missing.

Each evidence key of an item is judged on its own:

- a question (``Q3``): its finding PASS (or SKIPPED: it cannot apply) is *present*; WARN or
  FAIL is a *shortfall* (the evidence is there and shows the question not met: the question
  itself counts that against the score); NOT ASSESSED is *missing* (the system lacks what
  the question needs); a question not assessed in this run, or whose probe ERRORed
  (prodready could not judge it: never the system's fault), is *outside* the run;
- ``metadata.<field>``: present when the spec gives it, missing otherwise;
- ``system.model`` / ``system.data``: present when recorded with a sha256 digest;
- ``model_card``: present when every required metadata field is given;
- ``metrics``: present when this run measured model performance (Q3), outside the run when
  Q3 was not in it;
- ``automated_report``: present when this run showed the report needs no manual step, a
  shortfall when it could not show it (an interactive run), missing when it failed.

An item is present when all its evidence is, missing when none of it is present or a
shortfall, partial otherwise. For the compliance question what matters is whether the report
*holds the evidence*: a required item with nothing of it is a gap that FAILs Q6, one with part
of it missing WARNs, and a shortfall does not count twice (its own question FAILs). Evidence
outside the run makes an item *unjudged*: it never FAILs the question (a partial assessment is
not a failing one; an item whose judged evidence is all missing but which has evidence outside
the run WARNs as incomplete) but keeps it from passing. The report section of evidence outside
the run is not linked: the report has no section for a question it did not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prodready.probes.compliance._checklists import Checklist, Item
from prodready.results import Finding, Status, Table
from prodready.system import System
from prodready.views import SECTION_COLUMN  # drawn as links to the report's sections

__all__ = ["Mapped", "MappedChecklist", "Ref", "map_checklist"]

State = Literal["present", "shortfall", "missing", "outside"]


@dataclass(frozen=True)
class Ref:
    """One evidence key judged: its state, a few words why, and the report section to read."""

    key: str
    state: State
    why: str
    anchor: str


@dataclass(frozen=True)
class Mapped:
    """One checklist item judged: its status and the evidence behind it.

    ``gap`` says what the item means for the compliance question: "" (its evidence is all
    there), "missing" (none of it: FAIL when required), "incomplete" (part of it missing:
    WARN when required) or "unjudged" (part of it outside this run).
    """

    item: Item
    status: Literal["present", "partial", "missing"]
    refs: tuple[Ref, ...]
    gap: Literal["", "missing", "incomplete", "unjudged"]


@dataclass
class MappedChecklist:
    """A checklist mapped: every item judged, and the table the report shows."""

    checklist: Checklist
    items: list[Mapped]
    table: Table

    def required(self, gap: str) -> list[str]:
        """Ids of the required items with ``gap`` ("missing", "incomplete", "unjudged")."""
        return [m.item.id for m in self.items if m.item.required and m.gap == gap]

    def counts(self) -> dict[str, int]:
        """How many items are present, partial and missing."""
        counts = {"present": 0, "partial": 0, "missing": 0}
        for m in self.items:
            counts[m.status] += 1
        return counts


def map_checklist(
    checklist: Checklist,
    system: System,
    findings: Sequence[Finding],
    facts: Mapping[str, Ref],
) -> MappedChecklist:
    """Judge every item of ``checklist`` on ``findings`` and the system.

    ``facts`` holds the evidence the compliance probe judges itself (``model_card``,
    ``metrics``, ``automated_report``), already as :class:`Ref`.
    """
    by_question = {f.question: f for f in findings}
    mapped = [_map_item(item, system, by_question, facts) for item in checklist.items]
    rows = [
        [
            m.item.id,
            m.item.text,
            "required" if m.item.required else "optional",
            m.status + (" (not all assessed in this run)" if m.gap == "unjudged" else ""),
            "; ".join(r.why for r in m.refs)
            or "outside what an assessment can evidence: cover it in other documents",
            " ".join(dict.fromkeys(r.anchor for r in m.refs if r.anchor)),
        ]
        for m in mapped
    ]
    result = MappedChecklist(checklist, mapped, Table("", [], []))
    counts = result.counts()
    note = f"{counts['present']} present, {counts['partial']} partial, {counts['missing']} missing"
    failing = result.required("missing")
    if failing:
        note += "; required and without evidence: " + ", ".join(failing)
    note += f". The item texts paraphrase the guidance ({checklist.source or 'see its source'})."
    result.table = Table(
        f"Regulatory mapping: {checklist.title}",
        ["item", "what it asks", "required", "status", "evidence", SECTION_COLUMN],
        rows,
        note=note,
    )
    return result


def _map_item(
    item: Item, system: System, by_question: Mapping[str, Finding], facts: Mapping[str, Ref]
) -> Mapped:
    refs = tuple(_judge(key, system, by_question, facts) for key in item.evidence)
    states = [r.state for r in refs]
    status: Literal["present", "partial", "missing"]
    if refs and all(s == "present" for s in states):
        status = "present"
    elif any(s in ("present", "shortfall") for s in states):
        status = "partial"
    else:
        status = "missing"
    gap: Literal["", "missing", "incomplete", "unjudged"] = ""
    if not refs:
        gap = "missing"  # outside what an assessment can evidence (never required)
    elif "missing" in states:
        # Not a gap to FAIL on while part of the evidence lies outside the run: it might be
        # there (a partial assessment is never failed for what it left out).
        gap = "missing" if status == "missing" and "outside" not in states else "incomplete"
    elif "outside" in states:
        gap = "unjudged"
    return Mapped(item, status, refs, gap)


_QUESTION_STATE: dict[Status, State] = {
    Status.PASS: "present",
    Status.SKIPPED: "present",
    Status.WARN: "shortfall",
    Status.FAIL: "shortfall",
}


def _judge(
    key: str, system: System, by_question: Mapping[str, Finding], facts: Mapping[str, Ref]
) -> Ref:
    if key in facts:
        return facts[key]
    if key.startswith("Q"):
        anchor = "#" + key.lower()
        finding = by_question.get(key)
        if finding is None:  # no section in the report to link to
            return Ref(key, "outside", f"{key} not assessed in this run", "")
        if finding.status is Status.ERROR:
            # prodready could not judge it: no evidence either way, and not the system's fault.
            return Ref(key, "outside", f"{key} ERROR (prodready could not judge it)", anchor)
        state = _QUESTION_STATE.get(finding.status, "missing")
        why = f"{key} {finding.status.label}"
        if finding.status is Status.SKIPPED:
            why += " (does not apply)"
        elif state == "missing":
            why += " (no evidence)"
        return Ref(key, state, why, anchor)
    if key.startswith("metadata."):
        name = key.removeprefix("metadata.")
        given = bool(str(getattr(system.metadata, name, "") or "").strip())
        return Ref(
            key,
            "present" if given else "missing",
            f"{key} given" if given else f"{key} not set in the spec",
            "#q6",
        )
    if key == "system.model":
        artifact = system.model_artifact
        ok = artifact is not None and bool(artifact.sha256)
        why = "model artifact recorded with its sha256" if ok else "no model artifact digest"
        return Ref(key, "present" if ok else "missing", why, "#system")
    if key == "system.data":
        arts = [system.data_artifacts.get(w) for w in ("reference", "current")]
        wanted = [a for w, a in zip(("reference", "current"), arts, strict=True) if _has(system, w)]
        ok = bool(wanted) and all(a is not None and a.sha256 for a in wanted)
        why = "data files recorded with their sha256" if ok else "data files without a digest"
        return Ref(key, "present" if ok else "missing", why, "#system")
    raise KeyError(key)  # the checklist loader accepts no other key


def _has(system: System, which: str) -> bool:
    return system.reference is not None if which == "reference" else system.current is not None
