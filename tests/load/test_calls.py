"""The in-process load generator: worker threads calling a function on schedule."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from prodready.load import CallTarget, PhasePlan, run_phase

# Lenient on the generator's own lag: these tests are about what is measured, on machines
# that may be busy (the lag test sets its own tolerance).
PLAN = PhasePlan(duration_s=1.0, warmup_s=0.2, threads=2, lag_tolerance_s=0.05)


def hold_gil_for(seconds: float) -> int:
    """A size of ``sum(range(n))`` that takes about ``seconds``: one C call, never
    releasing the GIL (no bytecode runs, so no thread switch)."""
    n = 200_000
    start = time.perf_counter()
    sum(range(n))
    took = time.perf_counter() - start
    return max(1000, int(n * seconds / max(took, 1e-6)))


def test_a_trivial_function_at_thousands_of_calls_per_second() -> None:
    r = run_phase(CallTarget(lambda x: x, [1, 2, 3]), 5000.0, PLAN)
    assert r.conclusive, r.reason
    assert r.requests == 5000 and r.outcomes == {"ok": 5000}
    assert r.achieved_share >= 0.99
    assert r.p50_ms < 2.0


def test_service_time_and_outcomes_by_name() -> None:
    def fn(payload: int) -> str:
        time.sleep(0.004)
        if payload == 3:
            raise ValueError("bad row")
        return "rejected" if payload == 2 else "ok"

    r = run_phase(CallTarget(fn, [1, 2, 3, 4], classify=lambda v: v), 100.0, PLAN)
    assert r.conclusive, r.reason
    assert r.outcomes == {"ok": 50, "rejected": 25, "ValueError": 25}
    assert (r.ok, r.errors) == (50, 50)
    assert 4.0 <= r.p50_ms <= 6.0


def test_thread_init_runs_in_every_worker() -> None:
    seen: set[str] = set()
    target = CallTarget(
        lambda x: x, [0], thread_init=lambda: seen.add(threading.current_thread().name)
    )
    run_phase(target, 100.0, PhasePlan(duration_s=0.2, warmup_s=0.0, threads=3))
    assert len(seen) == 3


def test_a_function_past_the_time_limit_is_a_time_out_and_abandoned() -> None:
    release = threading.Event()

    def stuck(_: Any) -> None:
        release.wait(5.0)

    plan = PhasePlan(duration_s=0.5, warmup_s=0.0, min_requests=1, threads=2, request_timeout_s=0.2)
    start = time.perf_counter()
    r = run_phase(CallTarget(stuck, [0]), 20.0, plan)
    release.set()
    assert time.perf_counter() - start < 2.0
    assert r.timeouts == r.requests == 10


def test_a_function_that_holds_the_gil_makes_the_phase_inconclusive() -> None:
    # Each call holds the GIL ~30 ms: requests due meanwhile cannot even be started by the
    # idle worker, so the generator (sharing the process) cannot keep its schedule.
    n = hold_gil_for(0.03)
    plan = PhasePlan(duration_s=2.0, warmup_s=0.2, threads=2, arrivals="poisson")
    r = run_phase(CallTarget(lambda _: sum(range(n)), [0]), 20.0, plan, seed=1)
    assert not r.conclusive
    assert r.lagged_share > 0.05 and r.max_lag_ms > 10.0
    assert "could not keep its schedule" in r.reason


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_cancellation_stops_workers_waiting_for_a_far_schedule(how: str) -> None:
    cancel = threading.Event()
    deadline = time.monotonic() + 0.3 if how == "deadline" else float("inf")
    if how == "cancel":
        threading.Timer(0.3, cancel.set).start()
    start = time.perf_counter()
    # One request every 5 s: the workers sleep most of the phase.
    r = run_phase(
        CallTarget(lambda x: x, [0]),
        0.2,
        PhasePlan(duration_s=60.0, warmup_s=0.0, threads=2),
        cancel=cancel,
        deadline=deadline,
    )
    assert time.perf_counter() - start < 1.0
    assert r.stopped == ("cancelled" if how == "cancel" else "deadline")
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("prodready-load")]
