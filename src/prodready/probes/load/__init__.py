"""Q1 — Can the system handle 10x current load without degradation?

The probe loads the system the way production would, only more: requests built from rows
of the current data, sent open-loop (each at a time fixed in advance, its latency timed
from that time, so a stalled server's queue shows) by :mod:`prodready.load`, at:

1. the current load (``traffic.current_rps`` in the spec, or the busiest minute of the
   current data's ``traffic.timestamp`` column; with neither the question is NOT ASSESSED);
2. ``multiplier`` times that (10x), which is judged: p95 latency within the objective
   (given, or by default at most twice the p95 at current load), at least ``min_achieved``
   of the offered rate answered, at most ``max_error_rate`` of requests failed;
3. a bounded search (doubling, then bisection) for the highest multiple that still meets
   the objective: the headline "handles 37x current load".

It reaches the system through :func:`prodready.adapters.connect`: the endpoint over HTTP
(the generator speaks the protocol itself, with the client's encoding) or the model
in-process. A phase the generator could not keep on schedule is inconclusive, a WARN,
never a PASS or FAIL the generator caused. The probe runs in a child process, killed with
everything it started at its time limit.

The work is split over:

* :mod:`prodready.probes.load._settings`: :class:`LoadSettings` (the spec's ``load:``);
* :mod:`prodready.probes.load._measure`: the current load, the sampled requests, the target;
* :mod:`prodready.probes.load._checks`: the checks, the headline and the remediation;
* :mod:`prodready.probes.load._evidence`: the latency chart and one table per phase;
* :mod:`prodready.probes.load._probe`: :class:`LoadProbe`, which puts them together.
"""

from prodready.probes.load._measure import busiest_minute_rps
from prodready.probes.load._probe import LoadProbe
from prodready.probes.load._settings import LoadSettings

__all__ = ["LoadProbe", "LoadSettings", "busiest_minute_rps"]
