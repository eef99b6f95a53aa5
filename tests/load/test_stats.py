"""Statistics of a phase: exact percentiles, outcomes, rates and the generator's lag."""

from __future__ import annotations

import numpy as np
import pytest

from prodready.load import make_schedule
from prodready.load._stats import ERROR, OK, TIMEOUT, Record, ideal_dispatch, summarize


def test_ideal_dispatch_queues_behind_busy_slots() -> None:
    scheduled = np.array([0.0, 0.1, 0.2, 0.3])
    dispatch = scheduled.copy()
    end = scheduled + np.array([0.25, 0.05, 0.05, 0.05])  # the first holds its slot 0.25 s
    one = ideal_dispatch(scheduled, dispatch, end, slots=1)
    assert one.tolist() == pytest.approx([0.0, 0.25, 0.30, 0.35])
    two = ideal_dispatch(scheduled, dispatch, end, slots=2)
    assert two.tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    dispatch[2] = np.nan  # never sent: holds no slot
    assert np.isnan(ideal_dispatch(scheduled, dispatch, end, slots=1)[2])


def _phase(
    latency_ms: np.ndarray, late_s: np.ndarray | None = None, kinds: list[int] | None = None
):
    n = len(latency_ms)
    schedule = make_schedule(100.0, n / 100.0, 0.0, n)
    t0 = 1000.0
    record = Record(n)
    scheduled = t0 + schedule.offsets
    record.dispatch[:] = scheduled + (0.0 if late_s is None else late_s)
    record.end[:] = scheduled + latency_ms / 1000.0
    record.kind[:] = OK if kinds is None else kinds
    record.label[:] = record.code("200")
    return schedule, t0, record


def test_percentiles_are_exact_nearest_rank() -> None:
    latency = np.arange(1, 201, dtype=float)  # 1..200 ms, one each
    schedule, t0, record = _phase(latency)
    r = summarize(schedule, t0, record, slots=64, lag_tolerance_s=0.005, max_lagged_share=0.01)
    assert (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms) == pytest.approx((100, 190, 198, 200))
    assert r.requests == r.ok == 200
    assert r.offered_rps == pytest.approx(100.0)
    assert r.outcomes == {"200": 200}
    assert r.conclusive and r.lagged == 0


def test_errors_timeouts_and_achieved_rate() -> None:
    kinds = [OK] * 90 + [ERROR] * 6 + [TIMEOUT] * 4
    schedule, t0, record = _phase(np.full(100, 2.0), kinds=kinds)
    record.label[90:96] = record.code("503")
    record.label[96:] = record.code("timeout")
    r = summarize(schedule, t0, record, slots=8, lag_tolerance_s=0.005, max_lagged_share=0.01)
    assert (r.ok, r.errors, r.timeouts) == (90, 6, 4)
    assert r.error_rate == pytest.approx(0.10)
    assert r.outcomes == {"200": 90, "503": 6, "timeout": 4}
    assert r.achieved_rps == pytest.approx(90.0, rel=0.01)  # correct answers only


def test_generator_lag_beyond_tolerance_makes_a_phase_inconclusive() -> None:
    late = np.zeros(100)
    late[::10] = 0.020  # every tenth request sent 20 ms late by the generator itself
    schedule, t0, record = _phase(np.full(100, 30.0), late_s=late)
    r = summarize(schedule, t0, record, slots=64, lag_tolerance_s=0.005, max_lagged_share=0.01)
    assert r.lagged == 10 and r.lagged_share == pytest.approx(0.1)
    assert r.max_lag_ms == pytest.approx(20.0)
    assert not r.conclusive
    assert "could not keep its schedule" in r.reason and "10.0%" in r.reason
    lenient = summarize(schedule, t0, record, slots=64, lag_tolerance_s=0.05, max_lagged_share=0.01)
    assert lenient.conclusive


def test_waiting_for_a_busy_connection_is_not_the_generators_lag() -> None:
    # One slot, each answer 30 ms, a request every 10 ms: each waits for the previous one.
    n = 50
    schedule = make_schedule(100.0, n / 100.0, 0.0, n)
    t0, record = 0.0, Record(n)
    free = 0.0
    for i, s in enumerate(schedule.offsets):
        record.dispatch[i] = max(s, free)
        record.end[i] = free = record.dispatch[i] + 0.030
    record.kind[:] = OK
    r = summarize(schedule, t0, record, slots=1, lag_tolerance_s=0.005, max_lagged_share=0.01)
    assert r.conclusive and r.lagged == 0
    assert r.max_ms == pytest.approx(30 * n - 10 * (n - 1), rel=1e-6)  # the queue shows


def test_a_stopped_phase_is_not_conclusive_and_counts_what_was_never_finished() -> None:
    schedule, t0, record = _phase(np.full(100, 1.0))
    record.kind[50:] = 0
    r = summarize(
        schedule,
        t0,
        record,
        slots=4,
        lag_tolerance_s=0.005,
        max_lagged_share=0.01,
        stopped="cancelled",
    )
    assert r.requests == 50 and r.unsent == 50
    assert not r.conclusive and "cancelled" in r.reason
    assert r.as_dict()["stopped"] == "cancelled"
