"""Run the probes on a system and score the result: :func:`assess`.

Each probe runs isolated: an exception becomes an ERROR finding with its traceback, a probe
past its time limit becomes an ERROR too, and the others still run. Scoring follows the spirit
of Google's ML Test Score: one score per section, and the overall score is the *minimum*
section score, so strength in one section cannot hide a hole in another.
"""

from __future__ import annotations

import platform
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prodready.checklist import QUESTIONS, Section, get_question
from prodready.probes import Probe, ProbeContext, ProbeSpec, registered_probes
from prodready.results import Assessment, Check, Finding, Status
from prodready.system import Policy, System

__all__ = ["POINTS", "assess", "new_run_id", "score"]

#: Points per status. SKIPPED questions leave the denominator; NOT_ASSESSED, FAIL and ERROR
#: count 0: an unassessed question is a hole, not a pass.
POINTS: dict[Status, float] = {Status.PASS: 1.0, Status.WARN: 0.5}

_REPORTED_PACKAGES = (
    "prodready",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "shap",
    "alibi-detect",
    "skops",
    "papermill",
    "nbconvert",
)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random hex, e.g. 20261125T103000Z-3fa9c1."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def assess(
    system: System,
    *,
    probes: Mapping[str, type[Probe] | ProbeSpec] | None = None,
    questions: list[str] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    run_id: str | None = None,
) -> Assessment:
    """Assess ``system`` against the ten checklist questions.

    ``probes`` replaces the registry (question id -> Probe class); by default the built-in
    probes and the ``prodready.probes`` plug-ins are used. ``questions`` limits which
    questions are probed (the others are "not assessed"). ``on_finding`` is called after each
    question, e.g. to update a progress display.
    """
    specs = _as_specs(registered_probes() if probes is None else probes)
    wanted = {get_question(q).id for q in questions} if questions is not None else None
    started = datetime.now(UTC)
    findings: list[Finding] = []
    for question in QUESTIONS:
        spec = specs.get(question.id)
        if wanted is not None and question.id not in wanted:
            finding = _not_assessed(question.id, "Not selected for this run.")
        elif spec is None:
            finding = _not_assessed(question.id, "No probe assesses this question yet.")
        else:
            finding = _run_probe(spec, system)
        findings.append(finding)
        if on_finding is not None:
            on_finding(finding)
    scores, overall, verdict = score(findings, system.policy)
    return Assessment(
        run_id=run_id or new_run_id(),
        created=started.isoformat(timespec="seconds"),
        system=system.describe(),
        findings=findings,
        scores=scores,
        overall=overall,
        verdict=verdict,
        policy=asdict(system.policy),
        environment=_environment(),
    )


def score(findings: list[Finding], policy: Policy) -> tuple[dict[str, float], float, Any]:
    """Section scores, the overall score (their minimum) and the verdict.

    A section's score is the mean points of its applicable (not SKIPPED) questions; a section
    with none applicable scores 1. The verdict is "ready" only when every applicable question
    is PASS or WARN *and* the overall score reaches ``policy.min_score``.
    """
    by_id = {f.question: f for f in findings}
    scores: dict[str, float] = {}
    for section in Section:
        statuses = [by_id[q.id].status for q in QUESTIONS if q.section == section and q.id in by_id]
        applicable = [s for s in statuses if s is not Status.SKIPPED]
        points = sum(POINTS.get(s, 0.0) for s in applicable)
        scores[section.value] = round(points / len(applicable), 4) if applicable else 1.0
    overall = min(scores.values())
    blocking = [f for f in findings if f.status not in (Status.PASS, Status.WARN, Status.SKIPPED)]
    ready = not blocking and overall >= policy.min_score
    return scores, overall, "ready" if ready else "not ready"


def _as_specs(probes: Mapping[str, type[Probe] | ProbeSpec]) -> dict[str, ProbeSpec]:
    specs: dict[str, ProbeSpec] = {}
    for key, value in probes.items():
        qid = get_question(key).id
        specs[qid] = (
            value
            if isinstance(value, ProbeSpec)
            else ProbeSpec(qid, f"{value.__module__}:{value.__qualname__}", value)
        )
    return specs


def _not_assessed(question: str, summary: str) -> Finding:
    return Finding(
        question=question,
        status=Status.NOT_ASSESSED,
        summary=summary,
        remediation="This question is not assessed by prodready yet; assess it by "
        "other means, or install a probe plug-in for it.",
    )


def _run_probe(spec: ProbeSpec, system: System) -> Finding:
    """Run one probe in a worker thread with the policy's time limit; never raises."""
    if spec.probe is None:
        return _error(
            spec,
            f"The probe plug-in {spec.origin} could not be loaded.",
            spec.load_error or "",
            0.0,
        )
    limit = system.policy.probe_timeout_s
    context = ProbeContext(deadline=time.monotonic() + limit, seed=system.policy.seed)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["finding"] = spec.probe().run(system, context)  # type: ignore[misc]
        except BaseException:  # the probe crashed: report it, keep assessing
            outcome["error"] = traceback.format_exc()

    start = time.perf_counter()
    # A daemon thread: if the probe ignores its deadline we stop waiting for it; it cannot be
    # killed, but it cannot keep the process alive either.
    worker = threading.Thread(target=target, name=f"prodready-{spec.question}", daemon=True)
    worker.start()
    worker.join(limit)
    elapsed = time.perf_counter() - start
    if worker.is_alive():
        return _error(
            spec, f"The probe did not finish within its time limit of {limit:g} s.", "", elapsed
        )
    if "error" in outcome:
        last = outcome["error"].strip().splitlines()[-1]
        return _error(spec, f"The probe crashed: {last}", outcome["error"], elapsed)
    finding: Finding = outcome["finding"]
    if not isinstance(finding, Finding) or finding.question != spec.question:
        return _error(
            spec, f"The probe returned {finding!r}, not a Finding for {spec.question}.", "", elapsed
        )
    finding.probe = finding.probe or spec.origin
    finding.duration_s = round(elapsed, 3)
    _cap_partial(finding)
    return finding


def _cap_partial(finding: Finding) -> None:
    """A finding with parts not assessed cannot PASS: the unassessed part might fail."""
    if finding.not_assessed and finding.status is Status.PASS:
        finding.checks.append(
            Check(
                name="coverage",
                status=Status.WARN,
                measured=len(finding.not_assessed),
                threshold="every part of the question assessed",
                message="Partly assessed; not yet assessed: " + "; ".join(finding.not_assessed),
            )
        )
        finding.status = Status.WARN


def _error(spec: ProbeSpec, summary: str, trace: str, elapsed: float) -> Finding:
    return Finding(
        question=spec.question,
        status=Status.ERROR,
        summary=summary,
        probe=spec.origin,
        error=trace or None,
        duration_s=round(elapsed, 3),
        remediation="Fix the probe or the system so the probe can run; the system "
        "was not judged on this question.",
    )


def _environment() -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in _REPORTED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": packages}
