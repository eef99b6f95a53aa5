"""The :class:`LoadProbe`: current load, the load test, the checks and the evidence."""

from __future__ import annotations

from typing import Any

from prodready.adapters import connect
from prodready.load import LoadTestResult, PhasePlan, run_load_test
from prodready.probes._base import Probe, ProbeCancelled, ProbeContext, ProbeTimeout
from prodready.probes._scoring import _upper_first
from prodready.probes.load._checks import (
    capacity_text,
    current_check,
    generator_check,
    remediation,
    target_checks,
)
from prodready.probes.load._evidence import evidence
from prodready.probes.load._measure import SOURCES, current_load, make_target, sample_frames
from prodready.probes.load._settings import LoadSettings
from prodready.results import Finding, Status
from prodready.system import System


class LoadProbe(Probe):
    """Q1: open-loop load at the current rate, at 10x, and a search for the capacity."""

    question = "Q1"
    settings_class = LoadSettings
    # A child process: at its time limit it is killed with the generator's threads and
    # connections, whatever they are doing.
    isolation = "subprocess"
    serves = True

    def preflight(self, system: System) -> None:
        super().preflight(system)
        current_load(system)  # a traffic.timestamp that is not a column of times: SpecError

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: LoadSettings = self.settings(system)
        load = current_load(system)
        if load is None:
            return self.not_assessed(
                "The current load is unknown: the spec gives neither traffic.current_rps nor "
                "a traffic.timestamp column, so there is no rate to multiply.",
                "traffic.current_rps",
                "the decisions per second the system serves today at its busiest (or "
                "traffic.timestamp: a column of the current data with each decision's time)",
            )
        rps, field = load
        frames = sample_frames(system, settings.sample_rows, context.seed)
        plan = PhasePlan(
            duration_s=settings.phase_s,
            warmup_s=settings.warmup_s,
            min_requests=settings.min_requests,
            max_requests=settings.max_requests,
            arrivals=settings.arrivals,
            concurrency=settings.max_concurrency,
            threads=settings.threads,
            request_timeout_s=settings.request_timeout_s,
            lag_tolerance_s=settings.lag_tolerance_ms / 1000.0,
            max_lagged_share=settings.max_lagged_share,
        )
        context.report("preparing the requests")
        with connect(system) as client:
            target = make_target(client, frames)
            reached = client.describe()
            # One request alone first: when the system cannot answer at all, its own error
            # text explains the failures of the load better than counts do.
            first = client.predict(frames[0])
            context.check_deadline()
            result = run_load_test(
                target,
                rps,
                plan=plan,
                multiplier=settings.multiplier,
                p95_objective_ms=settings.p95_objective_ms,
                objective_floor_ms=settings.objective_floor_ms,
                min_achieved=settings.min_achieved,
                max_error_rate=settings.max_error_rate,
                search=settings.search,
                max_multiplier=settings.max_multiplier,
                max_search_steps=settings.max_search_steps,
                seed=context.seed,
                cancel=context.cancel,
                deadline=context.deadline,
                progress=context.report,
            )
        if result.stopped:  # cancelled, or the probe's time limit came: no finding
            if result.stopped == "deadline":
                raise ProbeTimeout("the load test ran into the probe's time limit")
            raise ProbeCancelled("the load test was cancelled")
        source = SOURCES[field].format(column=getattr(system.traffic, "timestamp", ""))
        first_reply = {"kind": first.kind, "status": first.status, "error": first.error}
        return self._finding(result, settings, source, reached, len(frames), first_reply)

    def _finding(
        self,
        result: LoadTestResult,
        settings: LoadSettings,
        source: str,
        reached: str,
        rows: int,
        first_reply: dict[str, Any],
    ) -> Finding:
        current, target = result.step("current"), result.step("target")
        assert current is not None and target is not None
        first_error = "" if first_reply["kind"] == "answered" else first_reply["error"]
        checks = [
            current_check(current, result.base_rps, settings, first_error),
            *target_checks(target, result, settings),
            generator_check(result.steps, settings),
        ]
        status = Finding.worst(checks)
        m = f"{result.multiplier:g}x"
        rate = result.base_rps * result.multiplier
        phase = target.phase
        headline = capacity_text(result)
        if not phase.conclusive:
            verdict = f"inconclusive at {m} current load ({rate:,.1f} req/s): {phase.reason}"
        elif target.met:
            verdict = (
                f"at {m} ({rate:,.1f} req/s) p95 {phase.p95_ms:,.1f} ms (objective "
                f"{result.objective.p95_ms:,.1f} ms), {phase.achieved_share:.0%} of the offered "
                f"rate answered, {phase.error_rate:.1%} failed"
            )
        else:
            verdict = f"does not handle {m} current load ({rate:,.1f} req/s): " + "; ".join(
                target.shortfalls
            )
        if checks[0].status is Status.FAIL:
            # It fails today already: that, with its reason, is the news, whatever 10x says.
            summary = f"{checks[0].message.rstrip('.')}; {verdict}."
        elif status is Status.PASS or target.met:
            summary = f"{_upper_first(headline)}; {verdict}."
        else:
            summary = f"{_upper_first(verdict)}; {headline}."
        return Finding(
            question=self.question,
            status=status,
            summary=summary,
            checks=checks,
            measurements={
                **_measurements(result, source, reached, rows),
                "first_reply": first_reply,
            },
            thresholds={
                "multiplier": settings.multiplier,
                "p95_objective_ms": round(result.objective.p95_ms, 3),
                "objective_rule": result.objective_rule,
                "objective_floor_ms": settings.objective_floor_ms,
                "min_achieved": settings.min_achieved,
                "max_error_rate": settings.max_error_rate,
                "lag_tolerance_ms": settings.lag_tolerance_ms,
                "max_lagged_share": settings.max_lagged_share,
                "phase_s": settings.phase_s,
                "warmup_s": settings.warmup_s,
                "min_requests": settings.min_requests,
                "max_requests": settings.max_requests,
                "arrivals": settings.arrivals,
                "max_concurrency": settings.max_concurrency,
                "threads": settings.threads,
                "request_timeout_s": settings.request_timeout_s,
                "search": settings.search,
                "max_multiplier": settings.max_multiplier,
                "max_search_steps": settings.max_search_steps,
            },
            evidence=evidence(result),
            remediation=remediation(status, checks, result),
        )


def _measurements(result: LoadTestResult, source: str, reached: str, rows: int) -> dict[str, Any]:
    cap = result.capacity
    return {
        "current_rps": round(result.base_rps, 6),
        "current_rps_source": source,
        "target": reached,
        "rows_sampled": rows,
        "objective_p95_ms": round(result.objective.p95_ms, 3),
        "capacity_multiplier": cap,
        "capacity_rps": None if cap is None else round(cap * result.base_rps, 3),
        "capacity_limit": result.capacity_limit,
        "generator_limit_multiplier": result.generator_limit,
        "headline": capacity_text(result),
        "phases": [
            {
                "multiplier": s.multiplier,
                "role": s.role,
                "met": s.met,
                "shortfalls": s.shortfalls,
                **s.phase.as_dict(),
            }
            for s in result.steps
        ],
    }
