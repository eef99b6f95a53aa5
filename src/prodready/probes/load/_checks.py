"""Judging for the load probe: the checks of the 1x and judged phases, the headline, the
remediation.

A phase the load generator could not keep on schedule is inconclusive: its checks are WARN
with the reason, never a PASS or a FAIL that the generator caused.
"""

from __future__ import annotations

from prodready.load import LoadTestResult, PhaseResult, Step
from prodready.probes.load._settings import LoadSettings
from prodready.results import Check, Status


def _rate(rps: float) -> str:
    return f"{rps:,.1f} req/s" if rps < 100 else f"{rps:,.0f} req/s"


def _x(multiplier: float) -> str:
    return f"{multiplier:g}x"


def step_title(step: Step, base_rps: float) -> str:
    """ "current load (1x)", "10x current load", "40x current load (search)"."""
    if step.role == "current":
        return f"current load (1x, {_rate(base_rps)})"
    where = " (search)" if step.role == "search" else ""
    return f"{_x(step.multiplier)} current load ({_rate(base_rps * step.multiplier)}){where}"


def failures(phase: PhaseResult) -> str:
    """The failed outcomes in words: "503 x10, dropped x2" (empty when none)."""
    bad = {k: v for k, v in phase.outcomes.items() if k not in ("ok",) and not k.startswith("2")}
    ordered = sorted(bad.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} x{count:,}" for name, count in ordered[:6])


def _inconclusive(name: str, phase: PhaseResult, measured: object, threshold: str) -> Check:
    return Check(
        name=name,
        status=Status.WARN,
        measured=measured,
        threshold=threshold,
        message=f"Inconclusive: {phase.reason}. Not judged.",
    )


def current_check(
    step: Step, base_rps: float, settings: LoadSettings, first_error: str = ""
) -> Check:
    """The current load (1x): answered at its rate, without errors (and the p95 if given).

    ``first_error`` is the system's own error text for a single request sent before the
    load (empty when it was answered): it tells why the requests fail.
    """
    phase = step.phase
    threshold = (
        f">= {settings.min_achieved:.0%} of the offered rate answered, error rate <= "
        f"{settings.max_error_rate:.1%}"
        + (
            f", p95 <= {settings.p95_objective_ms:g} ms"
            if settings.p95_objective_ms is not None
            else ""
        )
    )
    name = "current load (1x)"
    if not phase.conclusive:
        return _inconclusive(name, phase, _num(phase.p95_ms), threshold)
    measured = (
        f"{_rate(phase.achieved_rps)} of {_rate(phase.offered_rps)}, "
        f"error rate {phase.error_rate:.1%}, p95 {phase.p95_ms:,.1f} ms"
    )
    if step.shortfalls:
        return Check(
            name=name,
            status=Status.FAIL,
            measured=measured,
            threshold=threshold,
            message=f"At its current load ({_rate(base_rps)}) the system already misses the "
            f"objective: {'; '.join(step.shortfalls)}"
            + (f" ({failures(phase)})" if failures(phase) else "")
            + "."
            + (f" A single request alone got: {first_error.rstrip('.')}." if first_error else ""),
        )
    return Check(
        name=name,
        status=Status.PASS,
        measured=measured,
        threshold=threshold,
        message=f"At its current load ({_rate(base_rps)}): p95 {phase.p95_ms:,.1f} ms, "
        f"{phase.achieved_share:.0%} of the offered rate answered, "
        f"{phase.errors + phase.timeouts:,} of {phase.requests:,} requests failed.",
    )


def _num(value: float) -> float | None:
    return round(value, 3) if value == value else None


def target_checks(step: Step, result: LoadTestResult, settings: LoadSettings) -> list[Check]:
    """Latency, throughput and errors at the judged multiple (10x)."""
    phase, objective = step.phase, result.objective
    at = f"at {_x(step.multiplier)}"
    rate = _rate(phase.offered_rps)
    latency_threshold = (
        f"p95 <= {objective.p95_ms:,.1f} ms ("
        + ("p95_objective_ms" if result.objective_rule == "given" else result.objective_rule)
        + ")"
    )
    throughput_threshold = f">= {objective.min_achieved:.0%} of the offered rate answered"
    error_threshold = f"<= {objective.max_error_rate:.1%} of requests failed or timed out"
    if not phase.conclusive:
        return [
            _inconclusive(f"latency {at}", phase, _num(phase.p95_ms), latency_threshold),
            _inconclusive(
                f"throughput {at}", phase, round(phase.achieved_share, 4), throughput_threshold
            ),
            _inconclusive(f"errors {at}", phase, round(phase.error_rate, 5), error_threshold),
        ]
    latency_ok = phase.requests > 0 and phase.p95_ms <= objective.p95_ms
    latency = Check(
        name=f"latency {at}",
        status=Status.PASS if latency_ok else Status.FAIL,
        measured=_num(phase.p95_ms),
        threshold=latency_threshold,
        message=(
            f"At {rate} the p95 latency is {phase.p95_ms:,.1f} ms (p50 {phase.p50_ms:,.1f}, "
            f"p99 {phase.p99_ms:,.1f}, max {phase.max_ms:,.1f} ms): "
            + (
                f"within the {objective.p95_ms:,.1f} ms objective."
                if latency_ok
                else f"beyond the {objective.p95_ms:,.1f} ms objective."
            )
            if phase.requests
            else f"At {rate} no request finished."
        ),
    )
    throughput_ok = phase.achieved_share >= objective.min_achieved
    throughput = Check(
        name=f"throughput {at}",
        status=Status.PASS if throughput_ok else Status.FAIL,
        measured=round(phase.achieved_share, 4),
        threshold=throughput_threshold,
        message=f"{_rate(phase.achieved_rps)} answered of {rate} offered "
        f"({phase.achieved_share:.1%})"
        + ("." if throughput_ok else ": the system cannot keep up with this load."),
    )
    errors_ok = phase.error_rate <= objective.max_error_rate
    failed = phase.errors + phase.timeouts
    what = failures(phase)
    error = Check(
        name=f"errors {at}",
        status=Status.PASS if errors_ok else Status.FAIL,
        measured=round(phase.error_rate, 5),
        threshold=error_threshold,
        message=f"{failed:,} of {phase.requests:,} requests failed or timed out "
        f"({phase.error_rate:.2%})" + (f": {what}." if what else "."),
    )
    return [latency, throughput, error]


def generator_check(steps: list[Step], settings: LoadSettings) -> Check:
    """Did the generator keep its schedule in the judged phases (1x and the multiple)?"""
    judged = [s for s in steps if s.role in ("current", "target")]
    late = [s for s in judged if not s.phase.conclusive]
    worst = max((s.phase.lagged_share for s in judged), default=0.0)
    threshold = (
        f"<= {settings.max_lagged_share:.1%} of requests sent more than "
        f"{settings.lag_tolerance_ms:g} ms late by the generator"
    )
    if late:
        return Check(
            name="load generator on schedule",
            status=Status.WARN,
            measured=round(worst, 5),
            threshold=threshold,
            message="The load generator could not keep its schedule at "
            + ", ".join(_x(s.multiplier) for s in late)
            + f" ({late[0].phase.reason}): those phases say nothing about the system.",
        )
    return Check(
        name="load generator on schedule",
        status=Status.PASS,
        measured=round(worst, 5),
        threshold=threshold,
        message="The load generator kept its schedule in the judged phases (worst "
        f"{worst:.2%} of requests late by more than {settings.lag_tolerance_ms:g} ms).",
    )


def capacity_text(result: LoadTestResult) -> str:
    """The headline figure in words: "handles 37x current load (185 req/s)"."""
    cap = result.capacity
    if cap is None:
        return "does not meet the objective even at its current load"
    text = f"handles {_x(cap)} current load ({_rate(cap * result.base_rps)})"
    higher = [s.multiplier for s in result.steps if s.multiplier > cap and s.phase.conclusive]
    if result.capacity_limit == "":
        return text + (f"; it missed the objective at {_x(min(higher))}" if higher else "")
    if result.capacity_limit == "generator" and result.generator_limit is not None:
        return (
            f"handles at least {_x(cap)} current load ({_rate(cap * result.base_rps)}); the "
            f"load generator could not keep up at {_x(result.generator_limit)} on this machine"
        )
    why = {
        "search": "the highest multiple tried",
        "time": "the time limit ended the search",
        "not searched": "no search for the capacity (load.search is off)",
    }.get(result.capacity_limit, result.capacity_limit)
    return f"handles at least {_x(cap)} current load ({_rate(cap * result.base_rps)}; {why})"


def remediation(status: Status, checks: list[Check], result: LoadTestResult) -> str:
    """What to do when the finding does not pass."""
    if status is Status.PASS:
        return ""
    failed = {c.name.split(" at ")[0] for c in checks if c.status is Status.FAIL}
    steps = []
    if "current load (1x)" in failed:
        steps.append(
            "The system misses its objective at today's load already: fix that first (see "
            "the failing outcomes in the current-load table and the server's log)."
        )
    if failed & {"latency", "throughput"}:
        cap = (
            f" It handles about {_x(result.capacity)} today." if result.capacity is not None else ""
        )
        steps.append(
            f"Add capacity before traffic grows to {_x(result.multiplier)}: more server "
            "workers or replicas behind a load balancer (for a CPU-bound scikit-learn model "
            "one process per core, with OMP_NUM_THREADS=1), autoscaling on latency, or a "
            "cheaper prediction (a smaller model, batched requests); then re-run this "
            f"probe.{cap}"
        )
    if "errors" in failed:
        steps.append(
            "The system answers errors under load: read the server's log for those statuses "
            "(worker time-outs, a full connection backlog or thread pool, memory) and fix "
            "them; a server should slow down under load, not fail."
        )
    if any(c.status is Status.WARN and "Inconclusive" in c.message for c in checks):
        steps.append(
            "The load generator could not keep its schedule on this machine, so some phases "
            "are inconclusive: run the assessment on a quieter machine or one with more "
            "cores; for a model assessed in-process whose predict holds the GIL, serve it "
            "(endpoint) so the generator does not share its process."
        )
    return " ".join(steps)
