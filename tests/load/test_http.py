"""The HTTP load generator against real loopback servers of known behaviour."""

from __future__ import annotations

import http.client
import os
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest

from prodready.load import HTTPTarget, PhasePlan, run_phase
from tests.load.servers import Server, serve

BODY = b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, "x"]]}}'
# Lenient on the generator's own lag: these tests are about what is measured, on machines
# that may be busy.
PLAN = PhasePlan(duration_s=2.0, warmup_s=0.3, lag_tolerance_s=0.05)


def target(server: Server, **kwargs: object) -> HTTPTarget:
    return HTTPTarget(server.url + "/invocations", [BODY], **kwargs)  # type: ignore[arg-type]


def sockets() -> int:
    """Sockets this process holds open."""
    fds = os.listdir("/proc/self/fd")
    count = 0
    for fd in fds:
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


def test_fixed_service_time_is_measured_within_20_percent(fixed_server: Server) -> None:
    r = run_phase(target(fixed_server), 300.0, PLAN)
    assert r.conclusive, r.reason
    assert r.outcomes == {"200": r.requests} and r.requests == 600
    assert 8.0 <= r.p50_ms <= 12.0, r.p50_ms  # the server answers after 10 ms
    assert r.achieved_share >= 0.97
    assert r.p50_ms <= r.p95_ms <= r.p99_ms <= r.max_ms


def closed_loop_latencies_ms(server: Server, seconds: float) -> np.ndarray:
    """What a closed-loop tool measures: send, wait for the answer, send the next."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    out = []
    end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < end:
            start = time.perf_counter()
            conn.request("POST", "/invocations", BODY, {"Content-Type": "application/json"})
            conn.getresponse().read()
            out.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return np.array(out)


def test_stalls_show_in_p99_open_loop_but_hide_closed_loop() -> None:
    # Every second the server stops answering for 200 ms (a GC pause, a blocked worker).
    with serve("stall", service_ms=1, period_s=1.0, stall_ms=200) as server:
        r = run_phase(
            target(server), 200.0, PhasePlan(duration_s=3.0, warmup_s=0.3, lag_tolerance_s=0.05)
        )
        closed = closed_loop_latencies_ms(server, 3.0)
    assert r.conclusive, r.reason
    # About a fifth of the scheduled requests fall in a stall and wait up to 200 ms.
    assert r.p99_ms >= 150.0, r.p99_ms
    assert r.max_ms >= 180.0
    assert r.p50_ms < 20.0
    # The closed loop sends one request per stall, so its p99 never sees them.
    assert len(closed) > 500
    assert np.quantile(closed, 0.99) < 50.0
    assert closed.max() >= 100.0  # the stall was there


def test_dropped_connections_count_as_errors() -> None:
    with serve("drop", service_ms=1, drop_every=10) as server:
        r = run_phase(target(server), 200.0, PLAN)
    assert r.conclusive, r.reason
    assert r.outcomes.get("dropped", 0) == r.errors
    assert 0.07 <= r.error_rate <= 0.13, r.outcomes
    assert r.ok + r.errors == r.requests and r.timeouts == 0


@pytest.mark.parametrize("framing", [{"chunked": True}, {"close": True}])
def test_chunked_answers_and_closed_connections(framing: dict[str, bool]) -> None:
    with serve("fixed", service_ms=1, **framing) as server:
        r = run_phase(target(server), 200.0, PLAN)
    assert r.outcomes == {"200": r.requests}, r.outcomes
    assert r.conclusive, r.reason


def test_a_server_that_is_not_there_fails_every_request_quickly() -> None:
    with serve("fixed") as server:
        url = server.url
    dead = HTTPTarget(url + "/invocations", [BODY])
    start = time.perf_counter()
    r = run_phase(dead, 50.0, PhasePlan(duration_s=1.0, warmup_s=0.0))
    assert time.perf_counter() - start < 3.0
    assert r.outcomes == {"connect failed": r.requests} and r.requests == 50
    assert r.error_rate == 1.0 and r.achieved_rps == 0.0


def test_slow_answers_are_time_outs_and_the_phase_stays_bounded() -> None:
    with serve("fixed", service_ms=500) as server:
        plan = PhasePlan(duration_s=1.0, warmup_s=0.0, request_timeout_s=0.1)
        start = time.perf_counter()
        r = run_phase(target(server), 50.0, plan)
        wall = time.perf_counter() - start
    assert r.timeouts == r.requests == 50 and r.outcomes == {"timeout": 50}
    assert r.p50_ms >= 100.0  # waited at least the time limit
    assert wall < 1.0 + 0.1 + 1.0


def test_answers_that_are_not_predictions_are_malformed(fixed_server: Server) -> None:
    refuse = target(fixed_server, check=lambda status, body: b"nothing" in body, check_every=1)
    r = run_phase(refuse, 100.0, PhasePlan(duration_s=0.5, warmup_s=0.0))
    assert r.outcomes == {"malformed": r.requests} and r.ok == 0
    accept = target(fixed_server, check=lambda status, body: b"predictions" in body)
    assert run_phase(accept, 100.0, PhasePlan(duration_s=0.5, warmup_s=0.0)).ok == 50


@pytest.mark.parametrize("how", ["cancel", "deadline"])
def test_cancellation_and_deadline_stop_promptly_and_close_everything(
    fixed_server: Server, how: str
) -> None:
    before = sockets()
    cancel = threading.Event()
    deadline = time.monotonic() + 0.5 if how == "deadline" else float("inf")
    if how == "cancel":
        threading.Timer(0.5, cancel.set).start()
    start = time.perf_counter()
    r = run_phase(
        target(fixed_server), 200.0, PhasePlan(duration_s=30.0), cancel=cancel, deadline=deadline
    )
    assert time.perf_counter() - start < 1.5
    assert r.stopped == ("cancelled" if how == "cancel" else "deadline")
    assert not r.conclusive and r.unsent > 1000
    assert not [t for t in threading.enumerate() if t.name.startswith("prodready-load")]
    assert sockets() <= before
