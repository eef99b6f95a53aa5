"""What probes return and what an assessment is: plain data, serializable to results.json.

Probes compute and never render: evidence is data (a :class:`Table` or the numbers behind a
:class:`Chart`); the views turn it into HTML and figures. The JSON form is versioned
(:data:`SCHEMA_VERSION`, JSON Schema in ``prodready/schema/results.schema.json``) so that a
report, a CI job or an auditor's script can read results written by another version.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeAlias

from prodready._exceptions import DataError
from prodready.checklist import QUESTIONS, Section

__all__ = [
    "SCHEMA_VERSION",
    "Assessment",
    "Chart",
    "Check",
    "Evidence",
    "Finding",
    "Status",
    "Table",
]

SCHEMA_VERSION = "1.1"

JSON: TypeAlias = Any  # a value json.dumps accepts: str, int, float, bool, None, list, dict


class Status(StrEnum):
    """Outcome of one probe (one checklist question).

    - PASS: every part of the question judged and within the settings.
    - WARN: judged, with a caveat (partly assessed, inconclusive, a risk short of a failure).
    - FAIL: the system was judged and falls short; that includes a model that raises on its
      own production data (the system failed, not the probe).
    - ERROR: prodready or a plug-in could not judge (its own bug, a crash, a time-out); never
      the system's fault. The summary says so plainly, the traceback is in the details.
    - NOT_ASSESSED: no probe yet, or the spec lacks what the probe needs (the finding names
      the spec field). Counts 0, like FAIL.
    - SKIPPED: the question cannot apply to this kind of system (the reason is in the
      summary); it leaves the score's denominator. Missing evidence is never SKIPPED.
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    NOT_ASSESSED = "not_assessed"

    @property
    def label(self) -> str:
        """Upper-case label for reports, e.g. "NOT ASSESSED"."""
        return self.value.replace("_", " ").upper()


# How bad a status is, for "the worst of these checks".
_SEVERITY = {Status.PASS: 0, Status.SKIPPED: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}


@dataclass
class Check:
    """One condition judged on a measured value: e.g. "additivity error <= 1e-6".

    ``measured`` is the value found, ``threshold`` the condition in words ("<= 0.05"),
    ``status`` PASS / WARN / FAIL, ``message`` one line a reader understands without context.
    """

    name: str
    status: Status
    measured: JSON
    threshold: str
    message: str


@dataclass
class Table:
    """A table of evidence: ``columns`` names and ``rows`` of JSON values, one list per row."""

    title: str
    columns: list[str]
    rows: list[list[JSON]]
    note: str = ""
    kind: Literal["table"] = "table"


@dataclass
class Chart:
    """The numbers behind a figure; the views draw it.

    ``chart`` says how: "barh" (one bar per label, ``series`` with one list of values per
    name), "hist" (``x`` holds the bin edges, each series one density per bin), "line"
    (``x`` the abscissae, each series the ordinates).
    """

    title: str
    chart: Literal["barh", "hist", "line"]
    x: list[JSON]
    series: dict[str, list[float]]
    xlabel: str = ""
    ylabel: str = ""
    note: str = ""
    kind: Literal["chart"] = "chart"


Evidence: TypeAlias = Table | Chart


@dataclass
class Finding:
    """The answer to one checklist question for one system.

    ``question`` is the question id ("Q3"); ``status`` the outcome; ``summary`` one line for the
    executive summary; ``checks`` the judged conditions behind the status; ``measurements`` the
    values measured (name -> JSON value); ``thresholds`` the policy values used; ``evidence``
    tables and chart data; ``remediation`` what to do when it does not pass; ``not_assessed``
    the parts of the question no probe covers yet (a finding with such parts is never PASS);
    ``probe`` where the probe came from ("module:Class"); ``duration_s`` its wall time;
    ``error`` the traceback when ``status`` is ERROR.
    """

    question: str
    status: Status
    summary: str
    probe: str = ""
    checks: list[Check] = field(default_factory=list)
    measurements: dict[str, JSON] = field(default_factory=dict)
    thresholds: dict[str, JSON] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    remediation: str = ""
    not_assessed: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None

    def __repr__(self) -> str:
        """One line: the question, its status and the start of its summary."""
        status = getattr(self.status, "label", self.status)
        return f"<Finding {self.question} {status}: {_short(self.summary, 90)}>"

    def _repr_html_(self) -> str:
        """The finding as the report shows it, styled for a notebook."""
        from prodready import views

        return views.finding_card_html(self)

    @staticmethod
    def worst(checks: list[Check]) -> Status:
        """The status a finding gets from its checks: the worst one (PASS if there are none)."""
        worst = Status.PASS
        for check in checks:
            if _SEVERITY[check.status] > _SEVERITY[worst]:
                worst = check.status
        return worst


@dataclass
class Assessment:
    """One run of the checklist on one system: the content of results.json.

    ``findings`` has one entry per assessed question, in checklist order. ``scores`` maps
    each section to its score in [0, 1] (PASS counts 1, WARN 0.5, anything else 0; SKIPPED
    questions are left out); ``overall`` is the minimum section score; ``verdict`` is
    "ready" or "not ready" under ``policy``; ``system`` describes what was assessed
    (model and data files with their sha256); ``environment`` the software that assessed it.
    ``questions`` lists the ids of the questions assessed: all ten, or the subset of a
    partial assessment, which is scored and judged on that subset alone (sections with no
    question in it have no score). ``notes`` are what a reader must know about the run itself
    (e.g. a probe plug-in that was ignored), one sentence each.
    """

    run_id: str
    created: str
    system: dict[str, JSON]
    findings: list[Finding]
    scores: dict[str, float]
    overall: float
    verdict: Literal["ready", "not ready"]
    policy: dict[str, JSON]
    environment: dict[str, JSON]
    questions: list[str] = field(default_factory=lambda: [q.id for q in QUESTIONS])
    notes: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    @property
    def partial(self) -> bool:
        """True when only some of the checklist's questions were assessed (``questions``)."""
        return len(self.questions) < len(QUESTIONS)

    @property
    def scope(self) -> str:
        """ "full assessment" or "partial assessment: 2 of 10 questions (Q3, Q5)"."""
        if not self.partial:
            return "full assessment"
        return (
            f"partial assessment: {len(self.questions)} of {len(QUESTIONS)} questions "
            f"({', '.join(self.questions)})"
        )

    @property
    def ready(self) -> bool:
        """True when the verdict is "ready": the CI gate."""
        return self.verdict == "ready"

    def finding(self, question: str) -> Finding:
        """The finding for a question id ("Q3")."""
        for f in self.findings:
            if f.question == question:
                return f
        raise KeyError(question)

    def section_findings(self, section: Section) -> list[Finding]:
        """The findings of one section, in checklist order."""
        ids = {q.id for q in QUESTIONS if q.section == section}
        return [f for f in self.findings if f.question in ids]

    # -- display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        """One line: run, system, verdict, overall score, scope and the count of each status."""
        from prodready.views import pct

        counts: dict[str, int] = {}
        for f in self.findings:
            label = str(getattr(f.status, "label", f.status))
            counts[label] = counts.get(label, 0) + 1
        tally = ", ".join(f"{n} {label}" for label, n in counts.items()) or "no findings"
        name = _short(str(self.system.get("name", "")), 60)
        scope = f"{', '.join(self.questions)} only" if self.partial else "all questions"
        return (
            f"<Assessment {_short(str(self.run_id), 40)} of {name!r}: "
            f"{str(self.verdict).upper()} ({pct(self.overall)}); {scope}: {tally}>"
        )

    def _repr_html_(self) -> str:
        """The executive summary, styled for a notebook."""
        from prodready import views

        return views.assessment_card_html(self)

    # -- serialization ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, JSON]:
        """A JSON-ready dict (the results.json document)."""
        data = asdict(self)
        # Put the version first: it is what a reader checks before anything else.
        return {"schema_version": data.pop("schema_version"), **data}

    def to_json(self) -> str:
        """results.json text. Non-finite floats are written as null (JSON has no NaN)."""
        return json.dumps(_finite(self.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write results.json atomically (see :func:`prodready._files.atomic_write`).

        A string that is not valid Unicode (a lone surrogate, e.g. from a file name in
        another encoding) is written as its JSON escape, so it loads back unchanged.
        """
        from prodready._files import atomic_write

        return atomic_write(path, self.to_json(), errors="backslashreplace")

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Assessment:
        """Load from a results.json document; rejects an unknown major schema version."""
        version = str(data.get("schema_version", ""))
        if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise DataError(
                f"results schema version {version!r} is not supported "
                f"(expected {SCHEMA_VERSION.split('.')[0]}.x)"
            )
        findings = [_finding_from_dict(f) for f in data["findings"]]
        fields = {k: v for k, v in data.items() if k not in ("findings", "schema_version")}
        fields.setdefault("questions", [f.question for f in findings])  # 1.0 had no such key
        return cls(findings=findings, schema_version=version, **fields)

    @classmethod
    def load(cls, path: str | Path) -> Assessment:
        """Read a results.json file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:  # the reason in words, without the raw "[Errno NN]"
            reason = exc.strerror or type(exc).__name__
            raise DataError(f"{path}: cannot read results: {reason}") from exc
        except ValueError as exc:
            first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: cannot read results: not JSON ({first})") from exc
        return cls.from_dict(data)


def _finding_from_dict(data: dict[str, JSON]) -> Finding:
    evidence: list[Evidence] = []
    for item in data.get("evidence", []):
        item = dict(item)
        kind = item.pop("kind")
        evidence.append(Table(**item) if kind == "table" else Chart(**item))
    checks = [Check(**{**c, "status": Status(c["status"])}) for c in data.get("checks", [])]
    rest = {k: v for k, v in data.items() if k not in ("evidence", "checks", "status")}
    return Finding(status=Status(data["status"]), checks=checks, evidence=evidence, **rest)


def _short(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…"."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _finite(value: JSON) -> JSON:
    """Replace NaN and infinities (which JSON cannot hold) with None, recursively."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
