"""When each request of a phase is sent: the open-loop schedule, fixed before the phase starts.

An open-loop generator decides every send time in advance from the rate alone, whatever the
system does; that is what lets a slow answer show as the queue it causes instead of slowing
the generator down (the *coordinated omission* of closed-loop tools).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Arrivals", "Schedule", "make_schedule"]

#: ``constant``: one request every ``1 / rate`` seconds. ``poisson``: independent arrivals at
#: that mean rate (exponential gaps, seeded), the way many independent users arrive.
Arrivals = Literal["constant", "poisson"]


@dataclass(frozen=True)
class Schedule:
    """The send times of one phase, in seconds from its start (``offsets``, ascending).

    The first ``warmup`` requests (those due before ``warmup_s``) warm the system and the
    connections up and are left out of the statistics; the measured window runs from
    ``warmup_s`` to ``end_s``.
    """

    rate: float
    offsets: npt.NDArray[np.float64]
    warmup: int
    warmup_s: float
    end_s: float

    @property
    def size(self) -> int:
        """Number of requests scheduled (warm-up included)."""
        return len(self.offsets)

    @property
    def window_s(self) -> float:
        """Length of the measured window in seconds."""
        return self.end_s - self.warmup_s


def make_schedule(
    rate: float,
    duration_s: float,
    warmup_s: float,
    max_requests: int,
    arrivals: Arrivals = "constant",
    seed: int = 0,
) -> Schedule:
    """The schedule of a phase at ``rate`` requests/s: ``warmup_s`` then ``duration_s``.

    At most ``max_requests`` requests (warm-up included): when the rate would need more, the
    phase is shortened, warm-up and measured window in proportion. Poisson arrivals are drawn
    from ``seed``; they are cut at the phase's end, so their number varies around the mean.
    """
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"the rate must be a positive number of requests per second: {rate}")
    if duration_s <= 0 or warmup_s < 0 or max_requests < 1:
        raise ValueError("a phase needs duration_s > 0, warmup_s >= 0 and max_requests >= 1")
    total_s = warmup_s + duration_s
    if rate * total_s > max_requests:  # shorten the phase to fit the request budget
        scale = max_requests / (rate * total_s)
        warmup_s, total_s = warmup_s * scale, total_s * scale
    if arrivals == "constant":
        n = max(1, math.ceil(rate * total_s - 1e-9))  # every k / rate before the end
        offsets = np.arange(n, dtype=np.float64) / rate
    elif arrivals == "poisson":
        rng = np.random.default_rng(seed)
        # Enough gaps to pass the end with near certainty; then cut at the end (and the cap).
        draws = int(rate * total_s + 10 * math.sqrt(rate * total_s) + 10)
        offsets = np.cumsum(rng.exponential(1.0 / rate, draws))
        offsets = offsets[offsets < total_s][:max_requests]
        if len(offsets) == 0:
            offsets = np.zeros(1)
    else:
        raise ValueError(f"arrivals must be 'constant' or 'poisson', not {arrivals!r}")
    warmup = int(np.searchsorted(offsets, warmup_s, side="left"))
    if warmup >= len(offsets):  # a warm-up longer than the phase: measure the last request
        warmup = len(offsets) - 1
    return Schedule(
        rate=float(rate),
        offsets=offsets,
        warmup=warmup,
        warmup_s=float(warmup_s),
        end_s=float(total_s),
    )
