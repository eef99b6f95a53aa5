"""Evidence of the load probe: latency against offered load, and one table per phase."""

from __future__ import annotations

import math

from prodready.load import LoadTestResult, Step
from prodready.probes.load._checks import failures, step_title
from prodready.results import Chart, Evidence, Table


def _ms(value: float) -> float:
    return round(value, 3) if math.isfinite(value) else math.nan


def latency_chart(result: LoadTestResult) -> Chart:
    """p50, p95 and p99 latency against the offered rate, with the objective."""
    steps = sorted(result.steps, key=lambda s: s.phase.offered_rps)
    late = [s for s in steps if not s.phase.conclusive]
    note = (
        "One point per phase; every latency timed from the request's scheduled send time "
        "(open loop), so queueing shows."
    )
    if late:
        note += (
            " Inconclusive (the generator lagged): "
            + ", ".join(f"{s.multiplier:g}x" for s in late)
            + "."
        )
    return Chart(
        title="Latency against offered load",
        chart="line",
        x=[round(s.phase.offered_rps, 3) for s in steps],
        series={
            "p50": [_ms(s.phase.p50_ms) for s in steps],
            "p95": [_ms(s.phase.p95_ms) for s in steps],
            "p99": [_ms(s.phase.p99_ms) for s in steps],
            "p95 objective": [round(result.objective.p95_ms, 3)] * len(steps),
        },
        xlabel="offered load (requests/s)",
        ylabel="latency (ms)",
        note=note,
    )


def _verdict(step: Step) -> str:
    if not step.phase.conclusive:
        return "inconclusive"
    return "meets the objective" if step.met else "misses the objective"


def phase_table(step: Step, base_rps: float) -> Table:
    """The measurements of one phase, one per row."""
    p = step.phase
    rows: list[list[object]] = [
        ["offered rate (req/s)", round(p.offered_rps, 3)],
        ["achieved rate (req/s)", round(p.achieved_rps, 3)],
        ["achieved share of offered", f"{p.achieved_share:.1%}"],
        ["requests measured (after warm-up)", p.requests],
        ["p50 latency (ms)", _ms(p.p50_ms)],
        ["p95 latency (ms)", _ms(p.p95_ms)],
        ["p99 latency (ms)", _ms(p.p99_ms)],
        ["max latency (ms)", _ms(p.max_ms)],
        ["errors", p.errors],
        ["time-outs", p.timeouts],
        ["outcomes", ", ".join(f"{k} x{v:,}" for k, v in p.outcomes.items()) or "none"],
        [
            f"sent > {p.lag_tolerance_ms:g} ms late by the generator",
            f"{p.lagged_share:.2%} (worst {p.max_lag_ms:,.1f} ms)",
        ],
        [
            "verdict",
            _verdict(step) + (f": {'; '.join(step.shortfalls)}" if step.shortfalls else ""),
        ],
    ]
    note = (
        f"{p.window_s:,.1f} s measured after {p.warmup_requests:,} warm-up requests; latency "
        "from each request's scheduled send time to the end of its answer."
    )
    if p.requests < 100:
        note += f" With {p.requests} requests the p99 is close to the maximum."
    if not p.conclusive:
        note += f" Inconclusive: {p.reason}."
    bad = failures(p)
    if bad:
        note += f" Failures: {bad}."
    return Table(
        title=f"Load phase: {step_title(step, base_rps)} — {_verdict(step)}",
        columns=["measure", "value"],
        rows=[list(r) for r in rows],
        note=note,
    )


def evidence(result: LoadTestResult) -> list[Evidence]:
    """The chart, then one table per phase in the order they ran."""
    out: list[Evidence] = [latency_chart(result)]
    out += [phase_table(step, result.base_rps) for step in result.steps]
    return out
