"""The open-loop schedule: send times fixed in advance, bounded, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from prodready.load import make_schedule


def test_constant_arrivals_are_evenly_spaced_and_warmup_is_counted() -> None:
    s = make_schedule(100.0, duration_s=2.0, warmup_s=0.5, max_requests=10_000)
    assert s.size == 250
    assert np.allclose(np.diff(s.offsets), 0.01)
    assert s.warmup == 50  # the requests due in the first 0.5 s
    assert s.window_s == pytest.approx(2.0)


def test_a_low_rate_keeps_the_last_request_before_the_end() -> None:
    s = make_schedule(5.0, duration_s=4.0, warmup_s=0.3, max_requests=10_000)
    # 0, 0.2, ..., 4.2: every k / rate before 4.3 s; 20 of them after the warm-up.
    assert s.size == 22
    assert s.size - s.warmup == 20


def test_the_request_budget_shortens_the_phase() -> None:
    s = make_schedule(10_000.0, duration_s=3.0, warmup_s=1.0, max_requests=1000)
    assert s.size == 1000
    assert s.end_s == pytest.approx(0.1)
    assert s.warmup_s == pytest.approx(0.025)


def test_poisson_arrivals_are_seeded_and_have_the_mean_rate() -> None:
    a = make_schedule(500.0, 4.0, 0.0, 100_000, "poisson", seed=3)
    b = make_schedule(500.0, 4.0, 0.0, 100_000, "poisson", seed=3)
    c = make_schedule(500.0, 4.0, 0.0, 100_000, "poisson", seed=4)
    assert np.array_equal(a.offsets, b.offsets)
    assert not np.array_equal(a.offsets[:10], c.offsets[:10])
    assert a.size == pytest.approx(2000, rel=0.1)
    gaps = np.diff(a.offsets)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.1)  # exponential gaps
    assert a.offsets.max() < 4.0


@pytest.mark.parametrize(
    ("rate", "duration", "warmup", "budget", "arrivals"),
    [
        (0.0, 1.0, 0.0, 10, "constant"),
        (float("nan"), 1.0, 0.0, 10, "constant"),
        (1.0, 0.0, 0.0, 10, "constant"),
        (1.0, 1.0, 0.0, 0, "constant"),
        (1.0, 1.0, 0.0, 10, "bursty"),
    ],
)
def test_impossible_schedules_are_refused(
    rate: float, duration: float, warmup: float, budget: int, arrivals: str
) -> None:
    with pytest.raises(ValueError, match=r"rate|phase|arrivals"):
        make_schedule(rate, duration, warmup, budget, arrivals)  # type: ignore[arg-type]
