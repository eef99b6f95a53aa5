"""What one phase measured: every request's times, and the statistics drawn from them.

The engines write into a :class:`Record` (preallocated arrays, one slot per scheduled
request, so memory is bounded by the phase's request budget); :func:`summarize` turns it into
a :class:`PhaseResult`. Percentiles are exact order statistics of every latency (nearest
rank), not a histogram's approximation.
"""

from __future__ import annotations

import heapq
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prodready.load._schedule import Schedule

__all__ = ["ERROR", "OK", "PENDING", "TIMEOUT", "PhaseResult", "Record", "summarize"]

#: What became of a request (``Record.kind``): not finished (never sent, or still running
#: when the phase was stopped), answered correctly, failed, or past its time limit.
PENDING, OK, ERROR, TIMEOUT = 0, 1, 2, 3


class Record:
    """The raw measurements of one phase, one slot per scheduled request.

    Times are ``time.perf_counter()`` instants. ``reached[i]`` is when the generator's
    schedule got to request ``i`` (an HTTP phase only: it may then wait for a connection),
    ``dispatch[i]`` when the generator handed it to a connection or worker (NaN: never),
    ``end[i]`` when its attempt ended
    (an answer, a failure, or its abandonment at the time limit). ``kind[i]`` is one of
    :data:`PENDING`, :data:`OK`, :data:`ERROR`, :data:`TIMEOUT`; ``label[i]`` indexes
    :attr:`labels`, the outcome in words ("200", "503", "dropped", "answered", "crashed"...).
    """

    def __init__(self, size: int) -> None:
        self.reached: npt.NDArray[np.float64] = np.full(size, np.nan)
        self.dispatch: npt.NDArray[np.float64] = np.full(size, np.nan)
        self.end: npt.NDArray[np.float64] = np.full(size, np.nan)
        self.kind: npt.NDArray[np.int8] = np.zeros(size, dtype=np.int8)
        self.label: npt.NDArray[np.int16] = np.zeros(size, dtype=np.int16)
        self.labels: list[str] = ["not finished"]
        self._codes: dict[str, int] = {"not finished": 0}
        self._lock = threading.Lock()

    def code(self, label: str) -> int:
        """The index of ``label`` in :attr:`labels` (added on first use; thread-safe)."""
        code = self._codes.get(label)
        if code is None:
            with self._lock:
                code = self._codes.get(label)
                if code is None:
                    code = len(self.labels)
                    self.labels.append(label)
                    self._codes[label] = code
        return code


@dataclass(frozen=True)
class PhaseResult:
    """The measurements of one phase at one offered rate.

    Counts and statistics are over the *measured* requests: those scheduled after the
    warm-up. Every latency is timed from the request's *scheduled* send time to the end of
    its attempt, so time spent waiting for a free connection or worker counts (it is the
    system being slow), and a timed-out request counts with the time it was waited for.

    - ``rate``: the rate asked for; ``offered_rps`` the measured requests per second of the
      window as scheduled; ``achieved_rps`` the correct answers per second, from the window's
      start to the later of its end and the last answer.
    - ``ok``, ``errors`` (error statuses, dropped connections, exceptions, malformed
      answers), ``timeouts``; ``outcomes`` counts every outcome by name ("200", "503",
      "dropped", "timeout"...).
    - ``p50_ms`` .. ``max_ms``: latency percentiles (nearest rank) in milliseconds; NaN when
      nothing finished.
    - ``lagged``: requests the *generator* sent more than ``lag_tolerance_ms`` later than a
      generator with no overhead would have, given the same answers (see :func:`summarize`);
      ``lagged_share`` their share. Past ``max_lagged_share`` the phase is not
      ``conclusive``: the generator could not keep its schedule, and ``reason`` says so.
    - ``stopped``: "" or why the phase ended early ("cancelled", "deadline"); a stopped
      phase is never conclusive. ``unsent`` requests were never sent because of it.
    - ``latencies_ms``: every measured latency, in schedule order (not serialized).
    """

    rate: float
    requests: int
    warmup_requests: int
    window_s: float
    offered_rps: float
    achieved_rps: float
    ok: int
    errors: int
    timeouts: int
    outcomes: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    lagged: int
    lagged_share: float
    max_lag_ms: float
    lag_tolerance_ms: float
    max_lagged_share: float
    conclusive: bool
    reason: str
    stopped: str
    unsent: int
    wall_s: float
    latencies_ms: npt.NDArray[np.float64] = field(repr=False, compare=False)

    @property
    def error_rate(self) -> float:
        """Share of measured requests that failed or timed out (0 when none was measured)."""
        return (self.errors + self.timeouts) / self.requests if self.requests else 0.0

    @property
    def achieved_share(self) -> float:
        """``achieved_rps / offered_rps`` (0 when nothing was offered)."""
        return self.achieved_rps / self.offered_rps if self.offered_rps > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the statistics (without the latencies themselves)."""

        def num(value: float, digits: int = 3) -> float | None:
            return round(value, digits) if math.isfinite(value) else None

        return {
            "rate": num(self.rate),
            "requests": self.requests,
            "warmup_requests": self.warmup_requests,
            "window_s": num(self.window_s),
            "offered_rps": num(self.offered_rps),
            "achieved_rps": num(self.achieved_rps),
            "achieved_share": num(self.achieved_share, 4),
            "ok": self.ok,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "error_rate": num(self.error_rate, 5),
            "outcomes": dict(self.outcomes),
            "p50_ms": num(self.p50_ms),
            "p95_ms": num(self.p95_ms),
            "p99_ms": num(self.p99_ms),
            "max_ms": num(self.max_ms),
            "mean_ms": num(self.mean_ms),
            "lagged": self.lagged,
            "lagged_share": num(self.lagged_share, 5),
            "max_lag_ms": num(self.max_lag_ms),
            "conclusive": self.conclusive,
            "reason": self.reason,
            "stopped": self.stopped,
            "unsent": self.unsent,
        }


def ideal_dispatch(
    scheduled: npt.NDArray[np.float64],
    dispatch: npt.NDArray[np.float64],
    end: npt.NDArray[np.float64],
    slots: int,
) -> npt.NDArray[np.float64]:
    """When a generator with no overhead of its own would have sent each request.

    Replays the schedule through ``slots`` connections (or workers), first come first
    served, each request holding its slot for the time it really took (``end - dispatch``):
    a request goes out at its scheduled time, or as soon as a slot frees. Requests never
    sent (NaN ``dispatch``) hold no slot and get NaN.
    """
    out = np.full(len(scheduled), np.nan)
    free = [-math.inf] * max(1, slots)  # a heap of the instants each slot is free again
    sched_l, disp_l, end_l = scheduled.tolist(), dispatch.tolist(), end.tolist()
    for i, (s, d, e) in enumerate(zip(sched_l, disp_l, end_l, strict=True)):
        if d != d or e != e:  # NaN: never sent, or not finished
            continue
        start = max(s, free[0])
        out[i] = start
        heapq.heapreplace(free, start + (e - d))
    return out


def summarize(
    schedule: Schedule,
    t0: float,
    record: Record,
    *,
    slots: int,
    lag_tolerance_s: float,
    max_lagged_share: float,
    stopped: str = "",
    wall_s: float = 0.0,
) -> PhaseResult:
    """The statistics of a phase whose schedule started at ``t0`` (a perf_counter instant).

    The generator's lag of a request is how much later it was sent than by an ideal
    generator (:func:`ideal_dispatch`) with ``slots`` connections or workers and the same
    answer times, or how late the generator's schedule reached it (``Record.reached``),
    whichever is more: the wait for a free connection is the system's, a late wake-up or a
    busy event loop is the generator's. A phase whose lagged share (lag above
    ``lag_tolerance_s``) exceeds ``max_lagged_share``, or that was ``stopped``, is not
    conclusive.
    """
    scheduled = t0 + schedule.offsets
    lag = np.fmax(
        record.dispatch - ideal_dispatch(scheduled, record.dispatch, record.end, slots),
        record.reached - scheduled,
    )
    measured = slice(schedule.warmup, schedule.size)
    kind = record.kind[measured]
    finished = kind != PENDING
    latency_s = (record.end[measured] - scheduled[measured])[finished]
    latencies_ms = np.maximum(latency_s, 0.0) * 1000.0
    requests = int(finished.sum())
    ok_mask = kind == OK
    ok = int(ok_mask.sum())
    errors = int((kind == ERROR).sum())
    timeouts = int((kind == TIMEOUT).sum())
    labels = record.label[measured][finished]
    counts = np.bincount(labels, minlength=len(record.labels))
    outcomes = {record.labels[c]: int(n) for c, n in enumerate(counts) if n}
    unsent = int((kind == PENDING).sum())

    window_s = schedule.window_s
    offered = (schedule.size - schedule.warmup) / window_s if window_s > 0 else 0.0
    if ok:
        last = float(np.max(record.end[measured][ok_mask])) - t0
        achieved = ok / max(schedule.end_s - schedule.warmup_s, last - schedule.warmup_s)
    else:
        achieved = 0.0
    if requests:
        p50, p95, p99 = np.quantile(latencies_ms, [0.5, 0.95, 0.99], method="inverted_cdf")
        peak, mean = float(latencies_ms.max()), float(latencies_ms.mean())
    else:
        p50 = p95 = p99 = peak = mean = math.nan
    lag_m = lag[measured][finished]
    lag_m = lag_m[np.isfinite(lag_m)]
    lagged = int((lag_m > lag_tolerance_s).sum())
    lagged_share = lagged / requests if requests else 0.0
    max_lag_ms = float(lag_m.max()) * 1000.0 if len(lag_m) else 0.0
    reason = ""
    if stopped:
        reason = f"the phase was stopped early ({stopped})"
    elif lagged_share > max_lagged_share:
        reason = (
            f"the load generator could not keep its schedule: it sent {lagged_share:.1%} of "
            f"the requests more than {lag_tolerance_s * 1000:g} ms late (at most "
            f"{max_lagged_share:.1%} allowed; worst {max_lag_ms:.0f} ms)"
        )
    return PhaseResult(
        rate=schedule.rate,
        requests=requests,
        warmup_requests=schedule.warmup,
        window_s=window_s,
        offered_rps=offered,
        achieved_rps=achieved,
        ok=ok,
        errors=errors,
        timeouts=timeouts,
        outcomes=outcomes,
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        max_ms=peak,
        mean_ms=mean,
        lagged=lagged,
        lagged_share=lagged_share,
        max_lag_ms=max_lag_ms,
        lag_tolerance_ms=lag_tolerance_s * 1000.0,
        max_lagged_share=max_lagged_share,
        conclusive=not reason,
        reason=reason,
        stopped=stopped,
        unsent=unsent,
        wall_s=wall_s,
        latencies_ms=latencies_ms,
    )
