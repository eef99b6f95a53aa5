"""The load test: 1x, the judged multiple, the default objective and the capacity search."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from prodready.load import CallTarget, PhasePlan, run_load_test

# Two workers, 10 ms per call: at most 200 calls/s, a knee the search must find.
PLAN = PhasePlan(duration_s=0.6, warmup_s=0.1, min_requests=1, threads=2, lag_tolerance_s=0.05)


def sleepy(_: Any) -> None:
    time.sleep(0.01)


KNEE = CallTarget(sleepy, [0])


def test_below_the_knee_10x_meets_and_the_search_finds_the_knee() -> None:
    r = run_load_test(KNEE, 5.0, plan=PLAN, max_search_steps=3)
    current, target = r.step("current"), r.step("target")
    assert current is not None and current.met
    assert target is not None and target.met and target.multiplier == 10
    assert [s.multiplier for s in r.steps][:3] == [1, 10, 20]
    assert len(r.steps) == 5  # 1x, 10x and three search steps
    assert r.capacity is not None and 20 <= r.capacity < 60  # the knee is at 40x
    assert r.capacity_limit == ""
    assert any(s.multiplier > r.capacity and not s.met for s in r.steps)


def test_past_the_knee_10x_fails_and_the_search_goes_down() -> None:
    r = run_load_test(KNEE, 30.0, plan=PLAN, max_search_steps=2)  # 10x = 300 calls/s
    target = r.step("target")
    assert target is not None and not target.met and target.phase.conclusive
    assert any("p95" in s or "achieved" in s for s in target.shortfalls)
    assert r.capacity is not None and 1 <= r.capacity < 10
    assert all(s.multiplier < 10 for s in r.steps if s.role == "search")


def test_default_objective_is_twice_the_current_p95_with_a_floor() -> None:
    r = run_load_test(KNEE, 5.0, plan=PLAN, search=False, objective_floor_ms=5.0)
    current = r.step("current")
    assert current is not None
    p95 = current.phase.p95_ms
    assert r.objective.p95_ms == pytest.approx(max(2 * p95, p95 + 5.0))
    assert "2x the p95 at current load" in r.objective_rule
    assert r.capacity == 10 and r.capacity_limit == "not searched"


def test_a_given_objective_is_used_as_given() -> None:
    r = run_load_test(KNEE, 5.0, plan=PLAN, search=False, p95_objective_ms=1.0)
    assert r.objective.p95_ms == 1.0 and r.objective_rule == "given"
    assert not any(s.met for s in r.steps)  # nothing answers within 1 ms
    assert r.capacity is None


def test_the_search_stops_at_the_largest_multiple_allowed() -> None:
    fast = CallTarget(lambda x: x, [0])
    r = run_load_test(fast, 1.0, plan=PLAN, max_multiplier=40, max_search_steps=5)
    assert [s.multiplier for s in r.steps] == [1, 10, 20, 40]
    assert r.capacity == 40 and r.capacity_limit == "search"


def test_the_search_skips_what_would_pass_the_deadline() -> None:
    fast = CallTarget(lambda x: x, [0])
    deadline = time.monotonic() + 2.5  # room for 1x and 10x, not for a search step
    r = run_load_test(fast, 1.0, plan=PLAN, deadline=deadline)
    assert [s.role for s in r.steps] == ["current", "target"]
    assert r.capacity_limit == "time" and not r.stopped


def test_a_cancelled_load_test_says_so() -> None:
    import threading

    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    r = run_load_test(KNEE, 5.0, plan=PhasePlan(duration_s=30), cancel=cancel)
    assert r.stopped == "cancelled" and len(r.steps) == 1
    assert math.isinf(r.objective.p95_ms) or r.objective.p95_ms > 0
