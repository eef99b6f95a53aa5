"""The sweep's summary: each system's run read back, what changed since the previous sweep,
and the two files a sweep leaves beside its run folders (``fleet.json`` and ``index.html``).

What changed is measured against the audit ledger (:mod:`prodready.attest._ledger`), never
against files a reader could have edited: the previous sweep is the last sweep id in a ledger
whose chain verifies, and its systems are the lines of that sweep, matched to this sweep's
systems by name. A ledger that does not verify is not used at all (the summary must not vouch
for an edited ledger): the summary says so instead.

The changes, per system (:class:`~prodready.fleet._model.Change` ``kind``):

- "new system": not in the previous sweep;
- "no longer assessed": in the previous sweep, but not assessed in this one (left out of the
  fleet, or its run failed or did not start: ``after`` says which);
- "verdict": the verdict flipped (ready <-> not ready);
- "new fail": a question that FAILs now and did not (or was not assessed) before;
- "fixed": a question that FAILed before and PASSes or WARNs now;
- "status": any other change of a question's status assessed both times (PASS -> WARN,
  FAIL -> ERROR, ...);
- "score": the overall score or a section's score moved by at least :data:`SCORE_THRESHOLD`.

The question-level changes need the previous run's statuses: ledger lines carry them
(``statuses``) since the sweep was added; for an older line they are read from the run's
results.json in the line's ``folder``, but only if its sha256 still equals the line's
``results_sha256``. Otherwise a note says that system's changes were computed from its
verdict and scores only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

from prodready._exceptions import DataError, ProdreadyError
from prodready._files import atomic_write, shown
from prodready.checklist import QUESTIONS, Section
from prodready.fleet._model import Attempt, Change, FleetResult, SystemRun

__all__ = [
    "SCORE_THRESHOLD",
    "SUMMARY_VERSION",
    "ChangeReport",
    "changes_since",
    "fleet_document",
    "read_summary",
    "system_run_from_results",
    "write_summary",
]

#: A score (overall or a section's, in [0, 1]) "moved" when it changed by at least this much:
#: 0.05 is one WARN in a section of ten questions or more; smaller moves are rounding noise.
SCORE_THRESHOLD = 0.05
#: The version of the ``fleet.json`` document (a reader checks the major number).
SUMMARY_VERSION = "1.0"
SUMMARY_JSON = "fleet.json"
SUMMARY_HTML = "index.html"

_FIXED = ("pass", "warn")  # a FAIL that became one of these is fixed; anything else is not


class ChangeReport(NamedTuple):
    """What :func:`changes_since` found.

    ``previous_sweep`` is the sweep compared with ("" when there is none, or the ledger could
    not be used); ``changes`` what changed, system by system; ``notes`` what a reader must
    know about the comparison (the ledger failed verification, a system compared on its
    scores only), one sentence each.
    """

    previous_sweep: str
    changes: list[Change]
    notes: list[str]


# -- one system's run ------------------------------------------------------------------------


def system_run_from_results(
    spec: str | os.PathLike[str],
    slug: str,
    run_dir: str | os.PathLike[str],
    attempts: Sequence[Attempt],
    seconds: float,
    exit_code: int | None,
) -> SystemRun:
    """The "assessed" :class:`SystemRun` of the published run folder ``run_dir``.

    Everything comes from the folder's results.json: the name, verdict, scores, each
    question's status (question id -> status value), the run id and the model's sha256.
    A results.json that cannot be read makes a "failed" run whose reason says why.
    """
    from prodready.results import Assessment

    spec_text = os.fspath(spec)
    results = Path(run_dir) / "results.json"
    try:
        assessment = Assessment.load(results)
        name = str(assessment.system.get("name") or "") or Path(spec_text).stem
        statuses = {
            str(f.question): str(getattr(f.status, "value", f.status)) for f in assessment.findings
        }
        model = assessment.system.get("model")
        model_sha = model.get("sha256", "") if isinstance(model, dict) else ""
        return SystemRun(
            spec=spec_text,
            slug=slug,
            name=name,
            state="assessed",
            verdict=str(assessment.verdict),
            overall=_score(assessment.overall),
            scores=_scores(assessment.scores),
            statuses=statuses,
            exit_code=exit_code,
            seconds=float(seconds),
            run_id=str(assessment.run_id),
            model_sha256=str(model_sha or ""),
            attempts=list(attempts),
            report=f"{slug}/report.html",
        )
    except (DataError, KeyError, TypeError, ValueError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SystemRun(
            spec=spec_text,
            slug=slug,
            name=Path(spec_text).stem,
            state="failed",
            reason=f"its results.json cannot be read: {reason}"[:500],
            exit_code=exit_code,
            seconds=float(seconds),
            attempts=list(attempts),
        )


def _score(value: Any) -> float | None:
    """A finite score as a float, else None (JSON has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _scores(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, float] = {}
    for key, raw in value.items():
        score = _score(raw)
        if score is not None:
            out[str(key)] = score
    return out


# -- what changed since the previous sweep ---------------------------------------------------


def changes_since(
    ledger: str | os.PathLike[str] | None,
    previous: str | None,
    systems: Sequence[SystemRun],
    *,
    current: str = "",
) -> ChangeReport:
    """What changed for ``systems`` (this sweep's) since a previous sweep in ``ledger``.

    ``previous`` names the sweep to compare with; None takes the last sweep in the ledger
    whose id is not ``current`` (this sweep's id: its own lines may already be in the ledger).
    No ledger (None, or a file not written yet) or no earlier sweep: no changes, no note.
    A ledger whose chain does not verify: no changes, and a note saying so.
    """
    if ledger is None or not os.fspath(ledger):
        return ChangeReport("", [], [])
    path = Path(ledger)
    if not path.exists():
        return ChangeReport("", [], [])
    records, refusal = _verified_records(path)
    if refusal:
        return ChangeReport("", [], [refusal])
    sweeps = [str(r.get("sweep") or "") for r in records]
    if previous is None:
        candidates = [s for s in sweeps if s and s != current]
        if not candidates:
            return ChangeReport("", [], [])
        previous = candidates[-1]
    elif previous not in sweeps or not previous:
        return ChangeReport(
            "",
            [],
            [f"Sweep {previous!r} is not in the ledger {shown(path)}: nothing to compare with."],
        )
    before: dict[str, dict[str, Any]] = {}
    for line, sweep in zip(records, sweeps, strict=True):
        if sweep == previous:
            before[str(line.get("system") or "")] = line  # a name twice: its last run
    changes: list[Change] = []
    notes: list[str] = []
    seen: set[str] = set()
    for run in systems:
        seen.add(run.name)
        earlier = before.get(run.name)
        if earlier is None:
            after = run.verdict if run.state == "assessed" else run.state
            changes.append(Change(run.name, "new system", "", None, after))
            continue
        if run.state != "assessed":
            changes.append(
                Change(
                    run.name, "no longer assessed", "", str(earlier.get("verdict", "")), run.state
                )
            )
            continue
        statuses, note = _previous_statuses(earlier)
        if note:
            notes.append(f"{run.name}: {note}")
        changes.extend(_system_changes(run, earlier, statuses))
    for name, gone in before.items():
        if name not in seen:
            changes.append(
                Change(name, "no longer assessed", "", str(gone.get("verdict", "")), None)
            )
    return ChangeReport(previous, changes, notes)


def _verified_records(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The ledger's assessment lines, or ([], why it cannot be used)."""
    from prodready.attest._ledger import verify_ledger

    try:
        check = verify_ledger(path)
        raw_lines = path.read_bytes().splitlines()
    except (ProdreadyError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return [], (f"The ledger {shown(path)} cannot be read ({reason}): no changes are computed.")
    if not check.ok:
        first = str(check.problems[0]) if check.problems else "problems found"
        more = len(check.problems) - 1 + check.more
        also = f", and {more} more problem(s)" if more > 0 else ""
        return [], (
            f"The ledger {shown(path)} failed verification ({first}{also}): no changes are "
            "computed from it, and no earlier sweep is vouched for."
        )
    records: list[dict[str, Any]] = []
    # Only the lines verify() checked: a line appended since is not vouched for.
    for raw in raw_lines[: check.lines]:
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(value, dict) and value.get("kind") == "assessment":
            records.append(value)
    return records, ""


def _previous_statuses(record: dict[str, Any]) -> tuple[dict[str, str] | None, str]:
    """The earlier run's statuses (question id -> value), or (None, why they are unknown)."""
    statuses = record.get("statuses")
    if isinstance(statuses, dict):
        return {str(k): str(v) for k, v in statuses.items()}, ""
    folder = str(record.get("folder") or "")
    digest = str(record.get("results_sha256") or "")
    results = Path(folder) / "results.json"
    if not folder or not digest:
        return None, (
            "its earlier ledger line records no question statuses and no results.json: "
            "its changes are computed from its verdict and scores only."
        )
    try:
        data = results.read_bytes()
    except OSError:
        return None, (
            f"its earlier ledger line records no question statuses, and its results.json "
            f"({shown(results)}) cannot be read: its changes are computed from its verdict and "
            "scores only."
        )
    if hashlib.sha256(data).hexdigest() != digest:
        return None, (
            f"its earlier ledger line records no question statuses, and its results.json "
            f"({shown(results)}) no longer matches the sha256 the ledger recorded: it is not "
            "used, and its changes are computed from its verdict and scores only."
        )
    try:  # the bytes whose digest was checked, not the file read again
        findings = json.loads(data).get("findings", [])
        return {str(f["question"]): str(f["status"]) for f in findings}, ""
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        return None, (
            f"its results.json ({shown(results)}) matches the ledger but holds no readable "
            "findings: its changes are computed from its verdict and scores only."
        )


def _system_changes(
    run: SystemRun, record: dict[str, Any], before: dict[str, str] | None
) -> list[Change]:
    changes: list[Change] = []
    verdict = str(record.get("verdict", ""))
    if verdict and run.verdict and verdict != run.verdict:
        changes.append(Change(run.name, "verdict", "", verdict, run.verdict))
    if before is not None:
        known = [q.id for q in QUESTIONS]
        others = sorted((set(before) | set(run.statuses)) - set(known))
        for question in known + others:
            was, now = before.get(question), run.statuses.get(question)
            if now == "fail" and was != "fail":
                changes.append(Change(run.name, "new fail", question, was, now))
            elif was == "fail" and now in _FIXED:
                changes.append(Change(run.name, "fixed", question, was, now))
            elif was is not None and now is not None and was != now:
                changes.append(Change(run.name, "status", question, was, now))
    pairs = [("overall", _score(record.get("overall")), run.overall)]
    old_scores = _scores(record.get("scores"))
    pairs += [(s.value, old_scores.get(s.value), run.scores.get(s.value)) for s in Section]
    for name, was_score, now_score in pairs:
        if was_score is None or now_score is None:
            continue  # a section not in one of the two runs (a partial assessment)
        # The tolerance: 0.50 - 0.45 is 0.04999... in binary, and is a move of 0.05.
        if abs(now_score - was_score) + 1e-9 >= SCORE_THRESHOLD:
            changes.append(
                Change(run.name, "score", name, round(was_score, 4), round(now_score, 4))
            )
    return changes


# -- the files -------------------------------------------------------------------------------


def fleet_document(result: FleetResult) -> dict[str, Any]:
    """The ``fleet.json`` document of ``result`` (see docs/fleet.md, "The summary")."""
    from prodready.results import _finite

    states = [s.state for s in result.systems]
    counts = {
        "systems": len(result.systems),
        "ready": sum(1 for s in result.systems if s.state == "assessed" and s.verdict == "ready"),
        "not ready": sum(
            1 for s in result.systems if s.state == "assessed" and s.verdict != "ready"
        ),
        "failed": states.count("failed"),
        "not started": states.count("not started"),
        "retried": sum(1 for s in result.systems if s.retried),
    }
    systems = []
    for s in result.systems:
        entry = asdict(s)
        entry["retried"] = s.retried
        systems.append(entry)
    document: dict[str, Any] = {
        "summary_version": SUMMARY_VERSION,
        "sweep_id": result.sweep_id,
        "created": result.created,
        "finished": result.finished,
        "seconds": result.seconds,
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "counts": counts,
        "cluster": dict(result.cluster),
        "ledger": result.ledger,
        "signed": result.signed,
        "systems": systems,
        "previous_sweep": result.previous_sweep,
        "score_threshold": SCORE_THRESHOLD,
        "changes": [asdict(c) for c in result.changes],
        "notes": list(result.notes),
    }
    return dict(_finite(document))


def write_summary(result: FleetResult) -> None:
    """Write ``fleet.json`` and ``index.html`` into the sweep folder, each atomically."""
    from prodready.fleet._page import summary_page_html

    text = json.dumps(
        fleet_document(result), indent=2, ensure_ascii=False, allow_nan=False, default=str
    )
    # A string that is not valid Unicode (a file name's lone surrogate) is written as its
    # JSON escape, which reads back as the same string.
    atomic_write(result.directory / SUMMARY_JSON, text + "\n", errors="backslashreplace")
    atomic_write(
        result.directory / SUMMARY_HTML, summary_page_html(result), errors="backslashreplace"
    )


def read_summary(path: str | os.PathLike[str]) -> FleetResult:
    """The :class:`FleetResult` a sweep wrote: ``path`` is its folder or its fleet.json."""
    p = Path(path)
    file = p / SUMMARY_JSON if p.is_dir() else p
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(
            f"{shown(file)}: cannot read the sweep's summary ({exc.strerror or exc}): "
            "expected a sweep folder holding fleet.json"
        ) from None
    except ValueError as exc:
        raise DataError(f"{shown(file)}: the sweep's summary is not JSON ({exc})") from None
    try:
        version = str(data.get("summary_version", ""))
        if version.split(".")[0] != SUMMARY_VERSION.split(".")[0]:
            raise DataError(
                f"{shown(file)}: summary version {version!r} is not supported "
                f"(expected {SUMMARY_VERSION.split('.')[0]}.x)"
            )
        systems = []
        for entry in data["systems"]:
            fields = {k: v for k, v in entry.items() if k != "retried"}
            fields["attempts"] = [Attempt(**a) for a in entry.get("attempts", [])]
            systems.append(SystemRun(**fields))
        return FleetResult(
            sweep_id=str(data["sweep_id"]),
            directory=file.parent,
            created=str(data.get("created", "")),
            finished=str(data.get("finished", "")),
            seconds=float(data.get("seconds") or 0.0),
            cluster=dict(data.get("cluster") or {}),
            systems=systems,
            changes=[Change(**c) for c in data.get("changes", [])],
            previous_sweep=str(data.get("previous_sweep", "")),
            ledger=str(data.get("ledger", "")),
            signed=bool(data.get("signed", False)),
            notes=[str(n) for n in data.get("notes", [])],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(
            f"{shown(file)}: not a sweep summary ({type(exc).__name__}: {exc}): expected the "
            "fleet.json a sweep writes"
        ) from None
