"""Run the probes on a system and score the result: :func:`assess`.

Each probe runs isolated (in a thread, or in a subprocess when it asks for one; see
:mod:`prodready._isolation`): an exception becomes an ERROR finding with its traceback in the
details, a probe past its time limit is cancelled and becomes an ERROR too, and the others
still run. Scoring follows the spirit
of Google's ML Test Score: one score per section, and the overall score is the *minimum*
section score, so strength in one section cannot hide a hole in another.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import platform
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from prodready._exceptions import MissingDependencyError, ServeError, UsageError
from prodready._isolation import Outcome, run_in_subprocess, run_in_thread
from prodready.checklist import QUESTIONS, Question, Section, get_question
from prodready.probes import Probe, ProbeSpec, plugin_problems, registered_probes
from prodready.results import Assessment, Check, Finding, Status
from prodready.system import Policy, System

__all__ = ["POINTS", "assess", "new_run_id", "preflight", "score", "select_questions"]

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
    questions: Sequence[str] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    on_progress: Callable[[str, str, float | None], None] | None = None,
    cancel: threading.Event | None = None,
    run_id: str | None = None,
    log_dir: str | Path | None = None,
) -> Assessment:
    """Assess ``system`` against the checklist questions.

    ``probes`` replaces the registry (question id -> Probe class); by default the built-in
    probes and the ``prodready.probes`` plug-ins are used. ``questions`` (ids or keys, e.g.
    ``["Q3", "explainability"]``) assesses only those: a *partial* assessment, scored and
    judged on that subset and labelled so everywhere. Before any probe runs, every selected
    probe's :meth:`~prodready.Probe.preflight` checks its settings and needs: bad input
    raises a :class:`~prodready.UsageError` at once. ``on_finding`` is called after each
    question; ``on_progress(question, step, fraction)`` when a probe starts (step
    "started") and whenever it reports a step.
    Setting ``cancel`` stops the running probe (it gets a cancellation) and the questions
    not yet run are reported as NOT ASSESSED. A probe that judges the other questions'
    evidence (:attr:`~prodready.Probe.after_others`, e.g. Q6's compliance mapping) runs after
    them, with their findings in its context; ``on_finding`` hears of it last.

    When the spec's ``endpoint.serve`` names an MLflow model and a selected probe sends
    decisions to the system (:attr:`~prodready.Probe.serves`), the model is served with
    ``mlflow models serve`` on a free loopback port for the time of those probes and stopped
    after, whatever happens; its log is kept as ``server.log`` in ``log_dir`` (by default a
    temporary folder, removed after). A model that cannot be served FAILs those questions.
    """
    specs = _as_specs(registered_probes() if probes is None else probes)
    selected = select_questions(questions)
    preflight(system, [specs[q.id] for q in selected if q.id in specs])
    started = datetime.now(UTC)
    findings: list[Finding] = []
    # A probe that judges the others' evidence (Q6) runs after them; the order is otherwise
    # the checklist's, and the findings are put back in checklist order at the end.
    order = sorted(selected, key=lambda q: _after_others(specs.get(q.id)))
    serving = [specs[q.id] for q in order if q.id in specs and _serves(specs[q.id])]
    served_here = serving and system.endpoint is not None and system.endpoint.url is None
    if served_here and importlib.util.find_spec("mlflow") is None:  # before any probe runs
        raise MissingDependencyError("mlflow", "mlflow", "serving endpoint.serve")
    with contextlib.ExitStack() as stack:
        served: System | str = system
        for question in order:
            spec = specs.get(question.id)
            so_far = tuple(copy.deepcopy(findings)) if _after_others(spec) else ()
            if cancel is not None and cancel.is_set():
                finding = _not_assessed(question.id, "The run was stopped before this question.")
            elif spec is None:
                finding = _not_assessed(question.id, "No probe assesses this question yet.")
            elif spec in serving:
                if served is system:  # the first probe that needs the server starts it
                    served = _serve(system, stack, log_dir)
                finding = (
                    _run_probe(spec, served, cancel, on_progress, so_far)
                    if isinstance(served, System)
                    else _unservable(spec, served)
                )
            else:
                finding = _run_probe(spec, system, cancel, on_progress, so_far)
            findings.append(finding)
            if on_finding is not None:
                on_finding(finding)
            if spec in serving and spec is serving[-1]:
                stack.close()  # the last probe that needs the server is done: stop it
    rank = {q.id: i for i, q in enumerate(QUESTIONS)}
    findings.sort(key=lambda f: rank[f.question])
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
        questions=[q.id for q in selected],
        notes=plugin_problems() if probes is None else [],
    )


def _after_others(spec: ProbeSpec | None) -> bool:
    return spec is not None and bool(getattr(spec.probe, "after_others", False))


def _serves(spec: ProbeSpec) -> bool:
    return spec.probe is not None and bool(getattr(spec.probe, "serves", False))


def _serve(system: System, stack: contextlib.ExitStack, log_dir: str | Path | None) -> System | str:
    """``system`` with its ``endpoint.serve`` model served (url filled in), or why it failed.

    The server is stopped when ``stack`` closes. A system without ``endpoint.serve`` is
    returned as it is.
    """
    endpoint = system.endpoint
    if endpoint is None or endpoint.serve is None or endpoint.url is not None:
        return system
    from prodready.adapters.serve import serve_mlflow

    env = (
        {} if system.decision_log is None else {"PRODREADY_DECISION_LOG": str(system.decision_log)}
    )
    if log_dir is None:
        log_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="prodready-serve-"))
    try:
        if endpoint.serve.startswith("models:/"):  # a registered model: the spec's registry
            from prodready.adapters.registry import resolve_uri

            uri = resolve_uri(system.registry.uri, system.source) if system.registry else None
            served = serve_mlflow(endpoint.serve, env=env, log_dir=log_dir, registry_uri=uri)
        else:
            served = serve_mlflow(Path(endpoint.serve), env=env, log_dir=log_dir)
        server = stack.enter_context(served)
    except ServeError as exc:
        return str(exc)
    return replace(system, endpoint=replace(endpoint, url=server.url))


def _unservable(spec: ProbeSpec, why: str) -> Finding:
    """The finding of a probe that needs the served model when the model cannot be served."""
    return Finding(
        question=spec.question,
        status=Status.FAIL,
        summary=f"The system's model could not be served, so it could not be tested: {why}",
        probe=spec.origin,
        remediation="Make endpoint.serve an MLflow model directory that `mlflow models serve "
        "--env-manager local` serves in this environment (its log is server.log in the run "
        "folder), or give endpoint.url of a server that is running.",
    )


def preflight(system: System, specs: Sequence[ProbeSpec] | None = None) -> None:
    """Check, before anything runs, that each probe of ``specs`` can run on ``system``.

    Runs every probe's :meth:`~prodready.Probe.preflight` (its settings, optional packages,
    what it needs); by default those of the registry. Raises the first
    :class:`~prodready.UsageError`. Plug-ins that failed to load are left for the run to
    report as ERROR; a preflight that crashes is the probe's bug, reported the same way.
    """
    for spec in registered_probes().values() if specs is None else specs:
        if spec.probe is None:
            continue
        try:
            spec.probe().preflight(system)
        except UsageError:
            raise
        except Exception:
            continue  # the run will report the probe's own failure as its ERROR


def score(findings: list[Finding], policy: Policy) -> tuple[dict[str, float], float, Any]:
    """Section scores, the overall score (their minimum) and the verdict.

    A section's score is the mean points of its applicable (not SKIPPED) questions among
    ``findings``; a section with none applicable scores 1; a section with no question in
    ``findings`` (a partial assessment) has no score. The verdict is "ready" only when every
    applicable question is PASS or WARN *and* the overall score reaches ``policy.min_score``.
    """
    by_id = {f.question: f for f in findings}
    scores: dict[str, float] = {}
    for section in Section:
        statuses = [by_id[q.id].status for q in QUESTIONS if q.section == section and q.id in by_id]
        if not statuses:
            continue
        applicable = [s for s in statuses if s is not Status.SKIPPED]
        points = sum(POINTS.get(s, 0.0) for s in applicable)
        scores[section.value] = round(points / len(applicable), 4) if applicable else 1.0
    overall = min(scores.values()) if scores else 0.0
    blocking = [f for f in findings if f.status not in (Status.PASS, Status.WARN, Status.SKIPPED)]
    ready = bool(findings) and not blocking and overall >= policy.min_score
    return scores, overall, "ready" if ready else "not ready"


def select_questions(questions: Sequence[str] | None) -> list[Question]:
    """The questions to assess, in checklist order; a bad name is a UsageError."""
    if questions is None:
        return list(QUESTIONS)
    if isinstance(questions, str):
        questions = [q for q in questions.split(",") if q.strip()]
    wanted: set[str] = set()
    for name in questions:
        try:
            wanted.add(get_question(name.strip()).id)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    if not wanted:
        raise UsageError("no question selected (expected ids such as Q3,Q5)")
    return [q for q in QUESTIONS if q.id in wanted]


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


def _run_probe(
    spec: ProbeSpec,
    system: System,
    cancel: threading.Event | None,
    on_progress: Callable[[str, str, float | None], None] | None,
    findings: tuple[Finding, ...] = (),
) -> Finding:
    """Run one probe isolated (thread or subprocess) with the policy's time limit.

    ``findings``, the others' so far, go into the context of a probe that runs after them.
    Never raises, but for KeyboardInterrupt, which cancels the probe first.
    """
    if spec.probe is None:
        return _error(
            spec, f"the probe plug-in {spec.origin} could not be loaded", spec.load_error or "", 0
        )
    probe = spec.probe()
    limit = system.policy.probe_timeout_s
    progress = None
    if on_progress is not None:
        question = spec.question

        def progress(step: str, fraction: float | None) -> None:
            on_progress(question, step, fraction)

    if on_progress is not None:
        on_progress(spec.question, "started", 0.0)
    start = time.perf_counter()
    if probe.isolation == "subprocess":
        outcome = run_in_subprocess(probe, system, limit, system.policy.seed, cancel, findings)
    else:
        outcome = run_in_thread(
            probe, system, limit, system.policy.seed, cancel, progress, findings
        )
    elapsed = time.perf_counter() - start
    if outcome.kind == "finding" and elapsed > limit:
        # A probe holding the GIL in one long C call keeps the watchdog from waking up in
        # time; its finding then arrives late, and a finding past the limit never counts.
        outcome = Outcome("timeout")
    if outcome.kind == "timeout":
        return _error(
            spec, f"its probe did not finish within the time limit of {limit:g} s", "", elapsed
        )
    if outcome.kind == "cancelled":
        finding = _not_assessed(spec.question, "The run was stopped during this question.")
        finding.duration_s = round(elapsed, 3)
        return finding
    if outcome.kind == "error":
        return _error(spec, "its probe failed with an internal error", outcome.error, elapsed)
    finding = outcome.finding
    if not isinstance(finding, Finding) or finding.question != spec.question:
        return _error(
            spec,
            "its probe returned something else than a finding for this question",
            f"The probe returned {finding!r:.300}, not a Finding for {spec.question}.",
            elapsed,
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


def _error(spec: ProbeSpec, why: str, trace: str, elapsed: float) -> Finding:
    # A plain sentence for the summary; the traceback or library message goes in the details.
    return Finding(
        question=spec.question,
        status=Status.ERROR,
        summary=f"prodready could not judge this question: {why}.",
        probe=spec.origin,
        error=trace or None,
        duration_s=round(elapsed, 3),
        remediation="This is a failure of prodready or of a probe plug-in, not of the system: "
        "the system was not judged on this question. Report it with the details below, or "
        "raise policy.probe_timeout_s if the probe needs more time.",
    )


def _environment() -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in _REPORTED_PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": packages}
