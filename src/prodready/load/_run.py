"""Phases and the load test: 1x, then the multiple, then a bounded search for the capacity."""

from __future__ import annotations

import contextlib
import gc
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from prodready.load._calls import CallTarget, run_calls
from prodready.load._http import HTTPTarget, run_http
from prodready.load._schedule import Arrivals, Schedule, make_schedule
from prodready.load._stats import PhaseResult, Record, summarize

__all__ = [
    "LoadTestResult",
    "Objective",
    "PhasePlan",
    "Step",
    "Target",
    "run_load_test",
    "run_phase",
]

Target = HTTPTarget | CallTarget

#: Seconds a phase may need beyond its schedule (connections, threads, the summary).
_OVERHEAD_S = 0.5
#: Most HTTP connections a phase opens (its event loop watches them with select(2)).
MAX_CONCURRENCY = 900


@dataclass(frozen=True)
class PhasePlan:
    """How every phase runs.

    - ``duration_s``: measured seconds per phase, after ``warmup_s`` seconds whose requests
      are sent but left out of the statistics; a phase at a rate so low that it would
      measure fewer than ``min_requests`` requests lasts longer, up to 4 ``duration_s``.
    - ``max_requests``: at most this many requests per phase, warm-up included (a faster
      rate shortens the phase): memory and time stay bounded.
    - ``arrivals``: "constant" (evenly spaced) or "poisson" (seeded random arrivals).
    - ``concurrency``: HTTP connections at most; ``threads``: worker threads for a
      function called in-process.
    - ``request_timeout_s``: a request unanswered this long after its scheduled time is a
      time-out (its latency counts as this long or longer).
    - ``lag_tolerance_s`` and ``max_lagged_share``: the generator's own lag allowed (see
      :func:`prodready.load.summarize`); past it a phase is inconclusive.
    """

    duration_s: float = 3.0
    warmup_s: float = 0.5
    min_requests: int = 20
    max_requests: int = 50_000
    arrivals: Arrivals = "constant"
    concurrency: int = 64
    threads: int = 4
    request_timeout_s: float = 2.0
    lag_tolerance_s: float = 0.01
    max_lagged_share: float = 0.01

    def __post_init__(self) -> None:
        problems = [
            name
            for name, ok in (
                ("duration_s > 0", self.duration_s > 0),
                ("warmup_s >= 0", self.warmup_s >= 0),
                ("min_requests >= 1", self.min_requests >= 1),
                ("max_requests >= 1", self.max_requests >= 1),
                ("arrivals constant or poisson", self.arrivals in ("constant", "poisson")),
                # The event loop watches its sockets with select(2): at most 1,024 of them.
                (
                    f"1 <= concurrency <= {MAX_CONCURRENCY}",
                    1 <= self.concurrency <= MAX_CONCURRENCY,
                ),
                ("threads >= 1", self.threads >= 1),
                ("request_timeout_s > 0", self.request_timeout_s > 0),
                ("lag_tolerance_s > 0", self.lag_tolerance_s > 0),
                ("0 <= max_lagged_share <= 1", 0 <= self.max_lagged_share <= 1),
            )
            if not ok
        ]
        if problems:
            raise ValueError("a phase plan needs " + ", ".join(problems))

    def phase_seconds(self, rate: float) -> tuple[float, float]:
        """The (warm-up, measured) seconds of a phase at ``rate``."""
        duration = self.duration_s
        if rate * duration < self.min_requests:
            duration = min(self.min_requests / rate, 4 * self.duration_s)
        return self.warmup_s, duration

    def wall_estimate(self, rate: float) -> float:
        """An upper estimate of a phase's wall time at ``rate`` (a time-out drain included)."""
        warmup, duration = self.phase_seconds(rate)
        if rate * (warmup + duration) > self.max_requests:
            duration = self.max_requests / rate
            warmup = 0.0
        return warmup + duration + self.request_timeout_s + _OVERHEAD_S


def run_phase(
    target: Target,
    rate: float,
    plan: PhasePlan | None = None,
    *,
    seed: int = 0,
    cancel: threading.Event | None = None,
    deadline: float = math.inf,
) -> PhaseResult:
    """Load ``target`` at ``rate`` requests per second for one phase of ``plan``.

    Stops early when ``cancel`` is set or at ``deadline`` (a ``time.monotonic()`` instant);
    the result then says so in ``stopped``. Every connection and worker is closed or
    released when it returns.
    """
    plan = plan or PhasePlan()
    warmup_s, duration_s = plan.phase_seconds(rate)
    schedule = make_schedule(
        rate, duration_s, warmup_s, plan.max_requests, plan.arrivals, seed=seed
    )
    with _collector_out_of_the_way():
        record, t0, stopped, wall, slots = _run(target, schedule, plan, cancel, deadline)
    return summarize(
        schedule,
        t0,
        record,
        slots=slots,
        lag_tolerance_s=plan.lag_tolerance_s,
        max_lagged_share=plan.max_lagged_share,
        stopped=stopped,
        wall_s=wall,
    )


@contextlib.contextmanager
def _collector_out_of_the_way() -> Iterator[None]:
    """Keep the garbage collector from pausing the generator on the host's heap.

    A process holding a large heap (a notebook kernel, a test session) can stop every thread
    for 100 ms and more while the collector walks it: the generator would fall behind its
    schedule for reasons that are neither its own nor the system's. What is alive when the
    phase starts is moved out of the collector's reach for the phase (``gc.freeze``) and
    handed back after it; what the phase allocates is still collected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(
    target: Target,
    schedule: Schedule,
    plan: PhasePlan,
    cancel: threading.Event | None,
    deadline: float,
) -> tuple[Record, float, str, float, int]:
    """One phase's requests: (record, start, stopped, wall seconds, slots)."""
    if isinstance(target, HTTPTarget):
        slots = plan.concurrency
        record, t0, stopped, wall = run_http(
            target,
            schedule,
            concurrency=plan.concurrency,
            timeout_s=plan.request_timeout_s,
            cancel=cancel,
            deadline=deadline,
        )
    else:
        slots = plan.threads
        record, t0, stopped, wall = run_calls(
            target,
            schedule,
            threads=plan.threads,
            timeout_s=plan.request_timeout_s,
            cancel=cancel,
            deadline=deadline,
        )
    return record, t0, stopped, wall, slots


@dataclass(frozen=True)
class Objective:
    """What a phase must achieve to count as handled.

    ``p95_ms``: the 95th percentile latency at most this; ``min_achieved``: at least this
    share of the offered rate answered correctly; ``max_error_rate``: at most this share of
    requests failed or timed out. A phase must also be conclusive (the generator kept its
    schedule) to count either way.
    """

    p95_ms: float
    min_achieved: float = 0.95
    max_error_rate: float = 0.01

    def shortfalls(self, phase: PhaseResult) -> list[str]:
        """What ``phase`` misses of the objective, in words (empty: it meets it)."""
        out = []
        if not phase.requests:
            return ["no request finished"]
        if not phase.p95_ms <= self.p95_ms:
            out.append(f"p95 {phase.p95_ms:,.1f} ms > {self.p95_ms:,.1f} ms")
        if phase.achieved_share < self.min_achieved:
            out.append(
                f"achieved {phase.achieved_rps:,.1f} of {phase.offered_rps:,.1f} req/s "
                f"({phase.achieved_share:.0%} < {self.min_achieved:.0%})"
            )
        if phase.error_rate > self.max_error_rate:
            out.append(f"error rate {phase.error_rate:.1%} > {self.max_error_rate:.1%}")
        return out


@dataclass(frozen=True)
class Step:
    """One phase of a load test: its ``multiplier`` of the current load and what it showed.

    ``role`` is "current" (1x), "target" (the multiple judged, e.g. 10x) or "search".
    ``met``: conclusive and within the objective; ``shortfalls`` what it missed.
    """

    multiplier: float
    role: Literal["current", "target", "search"]
    phase: PhaseResult
    met: bool
    shortfalls: list[str]


@dataclass(frozen=True)
class LoadTestResult:
    """A whole load test: the phases run, the objective used and the capacity found.

    ``capacity`` is the highest multiple of ``base_rps`` found to meet the objective (None:
    not even the current load did). ``capacity_limit`` says what bounds that figure beyond
    the measurement itself: "" (a failing multiple above it was found), "search" (the search
    reached ``max_multiplier`` or ran out of steps while every step met the objective),
    "generator" (the generator could not keep up above it), "time" (the time limit ended
    the search), "not searched". ``stopped`` is set when a cancellation or the deadline cut
    the test short.
    """

    base_rps: float
    multiplier: float
    objective: Objective
    objective_rule: str
    steps: list[Step] = field(default_factory=list)
    capacity: float | None = None
    capacity_limit: str = ""
    generator_limit: float | None = None
    stopped: str = ""

    def step(self, role: Literal["current", "target"]) -> Step | None:
        """The 1x ("current") or judged ("target") step, if it ran."""
        return next((s for s in self.steps if s.role == role), None)


def _nice(value: float) -> float:
    """``value`` rounded to two significant digits (multipliers people can read)."""
    if value <= 0:
        return value
    digits = 1 - math.floor(math.log10(value))
    return round(value, digits)


def run_load_test(
    target: Target,
    base_rps: float,
    *,
    plan: PhasePlan | None = None,
    multiplier: float = 10.0,
    p95_objective_ms: float | None = None,
    objective_factor: float = 2.0,
    objective_floor_ms: float = 5.0,
    min_achieved: float = 0.95,
    max_error_rate: float = 0.01,
    search: bool = True,
    max_multiplier: float = 1000.0,
    max_search_steps: int = 4,
    seed: int = 0,
    cancel: threading.Event | None = None,
    deadline: float = math.inf,
    progress: Callable[[str, float | None], None] | None = None,
) -> LoadTestResult:
    """Load ``target`` at 1x ``base_rps``, then ``multiplier`` x, then search the capacity.

    The objective is ``p95_objective_ms`` when given, else the 1x phase's p95 times
    ``objective_factor``, and never tighter than that p95 plus ``objective_floor_ms`` (a
    rise of a few milliseconds is jitter, not degradation). The search doubles the
    multiple from the highest one met until one fails (or ``max_multiplier``), then bisects
    (geometrically) between the highest met and the lowest failed, for at most
    ``max_search_steps`` phases; it skips a phase that would not end before ``deadline``.
    """
    plan = plan or PhasePlan()
    steps: list[Step] = []
    stopped = ""

    def report(text: str) -> None:
        if progress is not None:
            progress(text, None)

    def run(m: float, role: Literal["current", "target", "search"], objective: Objective) -> Step:
        rate = base_rps * m
        report(f"load at {m:g}x: {rate:,.1f} req/s")
        phase = run_phase(
            target, rate, plan, seed=seed + len(steps), cancel=cancel, deadline=deadline
        )
        misses = objective.shortfalls(phase)
        step = Step(m, role, phase, phase.conclusive and not misses, misses)
        steps.append(step)
        return step

    # The 1x phase is judged on throughput and errors (its latency sets the default objective).
    provisional = Objective(math.inf, min_achieved, max_error_rate)
    current = run(1.0, "current", provisional)
    if p95_objective_ms is not None:
        objective = Objective(p95_objective_ms, min_achieved, max_error_rate)
        rule = "given"
    else:
        base = current.phase.p95_ms if math.isfinite(current.phase.p95_ms) else 0.0
        objective = Objective(
            max(objective_factor * base, base + objective_floor_ms), min_achieved, max_error_rate
        )
        rule = (
            f"{objective_factor:g}x the p95 at current load ({base:,.1f} ms), and at least "
            f"that p95 + {objective_floor_ms:g} ms"
        )
    misses = objective.shortfalls(current.phase)
    steps[0] = Step(1.0, "current", current.phase, current.phase.conclusive and not misses, misses)
    result_stopped = current.phase.stopped
    if result_stopped:
        return LoadTestResult(base_rps, multiplier, objective, rule, steps, stopped=result_stopped)
    judged = run(multiplier, "target", objective)
    if judged.phase.stopped:
        return LoadTestResult(
            base_rps, multiplier, objective, rule, steps, stopped=judged.phase.stopped
        )

    met = [s.multiplier for s in steps if s.met]
    failed = [s.multiplier for s in steps if s.phase.conclusive and not s.met]
    inconclusive = [s.multiplier for s in steps if not s.phase.conclusive]
    lo = max(met) if met else None
    hi = min([m for m in failed + inconclusive if lo is None or m > lo], default=None)
    limit = "not searched"
    if search and lo is not None:
        limit = "search"
        for _ in range(max_search_steps):
            if hi is None:
                if lo >= max_multiplier:
                    break
                nxt = min(_nice(lo * 2), max_multiplier)
            else:
                if hi / lo <= 1.25:
                    limit = ""
                    break
                nxt = _nice(math.sqrt(lo * hi))
                if not lo < nxt < hi:
                    limit = ""
                    break
            if time.monotonic() + plan.wall_estimate(base_rps * nxt) > deadline:
                limit = "time"
                break
            step = run(nxt, "search", objective)
            if step.phase.stopped:
                stopped = step.phase.stopped
                break
            if step.met:
                lo = nxt
            else:
                hi = nxt
    if lo is not None and hi is not None and limit == "search":
        limit = ""  # a failing multiple bounds the capacity: the figure is measured
    inconclusive = [s.multiplier for s in steps if not s.phase.conclusive]
    generator_limit = min(inconclusive, default=None)
    if limit == "" and hi is not None and hi in inconclusive:
        limit = "generator"
    return LoadTestResult(
        base_rps,
        multiplier,
        objective,
        rule,
        steps,
        capacity=lo,
        capacity_limit=limit,
        generator_limit=generator_limit,
        stopped=stopped,
    )
