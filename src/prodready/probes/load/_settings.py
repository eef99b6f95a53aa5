"""The settings of the load probe: :class:`LoadSettings` and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prodready._settings import require


@dataclass(frozen=True)
class LoadSettings:
    """Settings of the load probe (the spec's ``load:`` section).

    What is judged:

    - ``multiplier``: the multiple of the current load that must be handled (10: "10x").
    - ``p95_objective_ms``: the 95th percentile latency allowed at that multiple. None (the
      default): twice the p95 measured at the current load, and never less than that p95
      plus ``objective_floor_ms`` (a rise of a few milliseconds is jitter, not degradation).
    - ``min_achieved``: the share of the offered rate that must be answered correctly.
    - ``max_error_rate``: the largest share of requests that may fail (an error status, a
      dropped connection, an exception, a malformed answer) or time out.

    How each phase runs (the load generator, :mod:`prodready.load`):

    - ``phase_s``: measured seconds per phase, after ``warmup_s`` seconds of load that are
      not counted (connections, caches). A phase at a rate so low that it would measure
      fewer than ``min_requests`` requests lasts longer, up to 4 ``phase_s``.
    - ``max_requests``: at most this many requests per phase (warm-up included); a faster
      rate shortens the phase.
    - ``arrivals``: "constant" (evenly spaced requests) or "poisson" (independent arrivals
      at the same mean rate, seeded by ``policy.seed``: burstier, like many users).
    - ``max_concurrency``: HTTP connections at most, up to 900 (a request due while all are
      busy waits, and the wait counts in its latency); ``threads``: worker threads calling
      an in-process model (they share its GIL: see the lag below).
    - ``request_timeout_s``: a request unanswered this long after its scheduled send time
      counts as a time-out.
    - ``sample_rows``: rows sampled (seeded) from the current data (else the reference) as
      the requests, one row per request, sent in turn.
    - ``lag_tolerance_ms``, ``max_lagged_share``: the generator measures its own lag (how
      much later than scheduled it managed to send a request while a connection was free);
      when more than ``max_lagged_share`` of a phase's requests were sent later than
      ``lag_tolerance_ms``, the phase is inconclusive (a WARN, never a PASS or FAIL).

    The capacity search, for the headline ("handles 37x current load"):

    - ``search``: after 1x and ``multiplier``, search the highest multiple that still meets
      the objective: doubling from the highest multiple met until one fails (or
      ``max_multiplier``), then bisecting, ``max_search_steps`` phases at most.
    """

    multiplier: float = 10.0
    p95_objective_ms: float | None = None
    objective_floor_ms: float = 5.0
    min_achieved: float = 0.95
    max_error_rate: float = 0.01
    phase_s: float = 3.0
    warmup_s: float = 0.5
    min_requests: int = 20
    max_requests: int = 50_000
    arrivals: Literal["constant", "poisson"] = "constant"
    max_concurrency: int = 64
    threads: int = 4
    request_timeout_s: float = 2.0
    sample_rows: int = 200
    lag_tolerance_ms: float = 10.0
    max_lagged_share: float = 0.01
    search: bool = True
    max_multiplier: float = 1000.0
    max_search_steps: int = 4

    def __post_init__(self) -> None:
        require(
            self.arrivals in ("constant", "poisson"),
            "arrivals",
            f"is {self.arrivals!r}",
            "constant or poisson",
        )
        require(
            self.p95_objective_ms is None or 0 < self.p95_objective_ms <= 3_600_000,
            "p95_objective_ms",
            f"is {self.p95_objective_ms}",
            "a number of milliseconds > 0, or null for twice the p95 at current load",
        )
        require(
            self.multiplier < self.max_multiplier,
            "max_multiplier",
            f"is {self.max_multiplier} with multiplier {self.multiplier}",
            "a multiple larger than multiplier",
        )
        for name, value, low, high in (
            ("multiplier", self.multiplier, 1.01, 1e6),
            ("objective_floor_ms", self.objective_floor_ms, 0, 60_000),
            ("min_achieved", self.min_achieved, 0, 1),
            ("max_error_rate", self.max_error_rate, 0, 1),
            ("phase_s", self.phase_s, 0.1, 3600),
            ("warmup_s", self.warmup_s, 0, 600),
            ("min_requests", self.min_requests, 1, 1_000_000),
            ("max_requests", self.max_requests, 10, 10_000_000),
            ("max_concurrency", self.max_concurrency, 1, 900),
            ("threads", self.threads, 1, 256),
            ("request_timeout_s", self.request_timeout_s, 0.001, 3600),
            ("sample_rows", self.sample_rows, 1, 100_000),
            ("lag_tolerance_ms", self.lag_tolerance_ms, 0.01, 60_000),
            ("max_lagged_share", self.max_lagged_share, 0, 1),
            ("max_multiplier", self.max_multiplier, 1.01, 1e7),
            ("max_search_steps", self.max_search_steps, 0, 50),
        ):
            require(low <= value <= high, name, f"is {value}", f"a value from {low:g} to {high:g}")
