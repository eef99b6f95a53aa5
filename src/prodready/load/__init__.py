"""The open-loop load generator behind the Q1 probe, usable on its own.

Open loop: every request has a send time fixed in advance from the rate alone (evenly spaced,
or Poisson arrivals), and its latency is timed from that *scheduled* time to the end of its
answer. A server that stalls therefore cannot hide the queue it builds: the requests that
should have gone out during the stall carry the wait in their latency (closed-loop tools,
which wait for an answer before sending the next request, leave them out: *coordinated
omission*). The generator measures its own lag too, and a phase it could not keep on
schedule is reported as inconclusive rather than blamed on the system.

Two kinds of target:

- :class:`HTTPTarget`: ``POST`` prepared bodies to a URL over kept-alive HTTP/1.1
  connections, with a minimal asyncio client (thousands of requests per second on one core);
- :class:`CallTarget`: call a Python function in-process from worker threads.

:func:`run_phase` runs one phase at one rate and returns a :class:`PhaseResult` (offered and
achieved rates, exact latency percentiles, errors, time-outs, the generator's lag);
:func:`run_load_test` runs 1x, the judged multiple (10x) and a bounded search for the
highest multiple that meets an :class:`Objective`. Everything is bounded by a
:class:`PhasePlan` (duration, request budget, time-outs) and stops on a cancellation event
or a deadline, closing its connections and threads.

    from prodready.load import HTTPTarget, run_phase
    target = HTTPTarget("http://127.0.0.1:5001/invocations", [body])
    print(run_phase(target, rate=500).p99_ms)
"""

from prodready.load._calls import CallTarget
from prodready.load._http import HTTPTarget
from prodready.load._run import (
    LoadTestResult,
    Objective,
    PhasePlan,
    Step,
    Target,
    run_load_test,
    run_phase,
)
from prodready.load._schedule import Arrivals, Schedule, make_schedule
from prodready.load._stats import PhaseResult

__all__ = [
    "Arrivals",
    "CallTarget",
    "HTTPTarget",
    "LoadTestResult",
    "Objective",
    "PhasePlan",
    "PhaseResult",
    "Schedule",
    "Step",
    "Target",
    "make_schedule",
    "run_load_test",
    "run_phase",
]
