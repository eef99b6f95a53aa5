"""Q1 load probe: current load, servers with known behaviour, the generator's limits."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import Chart, ProbeContext, SpecError, Status, System, Table
from prodready.assessment import assess
from prodready.probes import ProbeCancelled
from prodready.probes.load import LoadProbe, LoadSettings, busiest_minute_rps
from prodready.probes.load._measure import current_load
from prodready.system import Endpoint, Policy, Traffic
from tests.load.servers import Server, serve
from tests.zoo import ZooModel

# Short phases; lenient on the generator's own lag except where the lag is the point.
FAST = {
    "phase_s": 1.0,
    "warmup_s": 0.2,
    "min_requests": 10,
    "lag_tolerance_ms": 50.0,
    "search": False,
}


def make_system(
    model: Any,
    data: tuple[pd.DataFrame, pd.DataFrame],
    *,
    rps: float | None = None,
    timestamp: str | None = None,
    url: str | None = None,
    **load: Any,
) -> System:
    ref, cur = data
    return System(
        model=model,
        reference=ref.iloc[:500],
        current=cur.iloc[:500] if timestamp is None else cur,
        target="target",
        traffic=Traffic(current_rps=rps, timestamp=timestamp),
        endpoint=None if url is None else Endpoint(url=url),
        settings={"load": {**FAST, **load}},
    )


def checks(finding: Any) -> dict[str, Status]:
    return {c.name: c.status for c in finding.checks}


CTX = ProbeContext(seed=0)


# -- the current load -----------------------------------------------------------------------


def test_without_a_current_load_the_question_is_not_assessed(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    finding = LoadProbe().run(make_system(binary_model, binary_data), CTX)
    assert finding.status is Status.NOT_ASSESSED
    assert finding.measurements["missing_spec_field"] == "traffic.current_rps"
    assert "traffic.current_rps" in finding.remediation
    assert "traffic.timestamp" in finding.remediation


def test_busiest_minute_from_times() -> None:
    start = pd.Timestamp("2026-03-01 09:00:00", tz="UTC")
    busy = [start + pd.Timedelta(seconds=0.5 * i) for i in range(120)]  # 2 per second
    quiet = [start + pd.Timedelta(minutes=5, seconds=7 * i) for i in range(100)]
    times = pd.Series(busy + quiet).sample(frac=1.0, random_state=0)  # order does not matter
    assert busiest_minute_rps(times) == pytest.approx(2.0)
    assert busiest_minute_rps(times.astype(str)) == pytest.approx(2.0)  # ISO text
    epoch = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    assert busiest_minute_rps(epoch) == pytest.approx(2.0)  # Unix seconds
    # A window shorter than a minute: the rate over its span.
    assert busiest_minute_rps(pd.Series(busy[:21])) == pytest.approx(21 / 10)
    assert busiest_minute_rps(pd.Series([np.nan, np.nan])) is None
    for not_times in (pd.Series(["soon", "later"]), pd.Series([True, False])):
        with pytest.raises(ValueError, match=r"."):
            busiest_minute_rps(not_times)


def test_current_load_from_the_timestamp_column(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    cur = cur.iloc[:600].copy()
    # 600 decisions: 300 in the busiest minute (5 per second), the rest spread over an hour.
    base = pd.Timestamp("2026-03-01 12:00:00")
    seconds = np.concatenate([np.arange(300) * 0.2, 120 + np.arange(300) * 11.0])
    cur["decided_at"] = [base + pd.Timedelta(seconds=s) for s in seconds]
    system = make_system(binary_model, (ref, cur), timestamp="decided_at")
    assert current_load(system) == (pytest.approx(5.0), "traffic.timestamp")
    LoadProbe().preflight(system)

    given = make_system(binary_model, (ref, cur), rps=3.0, timestamp="decided_at")
    assert current_load(given) == (3.0, "traffic.current_rps")  # the spec's figure wins


@pytest.mark.parametrize("problem", ["missing column", "not times", "no current data"])
def test_a_bad_timestamp_column_is_a_spec_error(
    problem: str, binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    cur = cur.iloc[:100].copy()
    cur["decided_at"] = "yesterday-ish"
    column = "decided" if problem == "missing column" else "decided_at"

    def build_and_preflight() -> None:
        if problem == "no current data":
            system = System(
                model=binary_model,
                reference=ref.iloc[:200],
                target="target",
                traffic=Traffic(timestamp="decided_at"),
            )
        else:
            system = make_system(binary_model, (ref, cur), timestamp=column)
        LoadProbe().preflight(system)

    # Found when the System is built (the spec's checks) or at the latest by the preflight.
    with pytest.raises(SpecError, match=r"traffic\.timestamp"):
        build_and_preflight()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"arrivals": "bursty"}, "load.arrivals"),
        ({"multiplier": 10, "max_multiplier": 5}, "load.max_multiplier"),
        ({"p95_objective_ms": 0}, "load.p95_objective_ms"),
        ({"max_concurrency": 5000}, "load.max_concurrency"),
        ({"phase_s": "long"}, "load.phase_s"),
    ],
)
def test_bad_settings_name_their_field(
    bad: dict[str, Any],
    field: str,
    binary_model: Pipeline,
    binary_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    system = make_system(binary_model, binary_data, rps=5.0)
    system.settings["load"] = bad
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        LoadProbe().preflight(system)
    assert LoadSettings().multiplier == 10.0


# -- servers with known behaviour ---------------------------------------------------------


@pytest.fixture(scope="module")
def knee_server() -> Any:
    """Serves 2 requests at a time, 10 ms each: up to 200 requests/s, then a growing line."""
    with serve("knee", service_ms=10, capacity=2) as server:
        yield server


def test_10x_below_the_knee_passes_with_the_capacity_as_headline(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame], knee_server: Server
) -> None:
    system = make_system(
        binary_model, binary_data, rps=5.0, url=knee_server.url, search=True, max_search_steps=2
    )
    finding = LoadProbe().run(system, CTX)  # 10x = 50 req/s, the knee at 200
    assert finding.status is Status.PASS, finding.summary
    assert set(checks(finding).values()) == {Status.PASS}
    assert list(checks(finding)) == [
        "current load (1x)",
        "latency at 10x",
        "throughput at 10x",
        "errors at 10x",
        "load generator on schedule",
    ]
    m = finding.measurements
    assert m["current_rps"] == 5.0 and m["target"].startswith("MLflow scoring protocol at")
    assert m["first_reply"]["kind"] == "answered"
    assert [p["multiplier"] for p in m["phases"]] == [1.0, 10.0, 20.0, 40.0]
    assert m["capacity_multiplier"] >= 20
    assert finding.summary.startswith(f"Handles {m['capacity_multiplier']:g}x current load")
    assert "at 10x (50.0 req/s) p95" in finding.summary
    # Evidence: the latency chart, then one table per phase.
    chart, *tables = finding.evidence
    assert isinstance(chart, Chart) and chart.chart == "line"
    assert len(chart.x) == 4 and set(chart.series) == {"p50", "p95", "p99", "p95 objective"}
    assert all(isinstance(t, Table) for t in tables) and len(tables) == 4
    assert tables[1].title.startswith("Load phase: 10x current load (50.0 req/s)")
    assert finding.remediation == ""
    json.dumps(asdict(finding))  # plain data


def test_10x_past_the_knee_fails(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame], knee_server: Server
) -> None:
    system = make_system(binary_model, binary_data, rps=30.0, url=knee_server.url)
    finding = LoadProbe().run(system, CTX)  # 10x = 300 req/s, past the 200 the server can do
    assert finding.status is Status.FAIL, finding.summary
    status = checks(finding)
    assert status["current load (1x)"] is Status.PASS
    assert status["latency at 10x"] is Status.FAIL
    assert status["throughput at 10x"] is Status.FAIL
    assert status["load generator on schedule"] is Status.PASS
    assert finding.summary.startswith("Does not handle 10x current load (300.0 req/s): p95")
    assert "Add capacity" in finding.remediation
    assert finding.measurements["capacity_limit"] == "not searched"


def test_dropped_connections_fail_on_errors(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    with serve("drop", service_ms=1, drop_every=10) as server:
        system = make_system(binary_model, binary_data, rps=10.0, url=server.url)
        finding = LoadProbe().run(system, CTX)
    assert finding.status is Status.FAIL
    error = next(c for c in finding.checks if c.name == "errors at 10x")
    assert error.status is Status.FAIL and "dropped x" in error.message
    assert 0.07 <= error.measured <= 0.13
    assert "read the server's log" in finding.remediation


# -- in-process ---------------------------------------------------------------------------


def test_in_process_model_at_10x(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    finding = LoadProbe().run(make_system(binary_model, binary_data, rps=5.0), CTX)
    assert finding.status is Status.PASS, finding.summary
    assert "in-process" in finding.measurements["target"]
    assert finding.measurements["phases"][1]["outcomes"] == {"ok": 50}


class HoldsTheGIL(ZooModel):
    """Each predict holds the GIL ~30 ms in one C call, so no other thread runs meanwhile."""

    n = 0

    def _call(self, method: str, X: Any) -> Any:
        sum(range(self.n))
        return super()._call(method, X)


def test_a_generator_that_cannot_keep_up_is_a_warn_not_a_verdict(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    start = time.perf_counter()
    sum(range(1_000_000))
    HoldsTheGIL.n = int(1_000_000 * 0.03 / (time.perf_counter() - start))
    system = make_system(
        HoldsTheGIL(binary_model),
        binary_data,
        rps=2.0,
        arrivals="poisson",
        threads=2,
        lag_tolerance_ms=5.0,
    )
    finding = LoadProbe().run(system, CTX)
    assert finding.status is Status.WARN, finding.summary
    status = checks(finding)
    assert status["load generator on schedule"] is Status.WARN
    # Which judged phase the generator fell behind in depends on when the GIL was held (1x,
    # 10x or both): each such phase's checks are inconclusive WARNs, and nothing is a FAIL.
    late = [c for c in finding.checks if c.message.startswith("Inconclusive: ")]
    assert late and all(c.status is Status.WARN for c in late)
    assert not any(c.status is Status.FAIL for c in finding.checks)
    assert "could not keep its schedule" in finding.summary
    assert "serve it" in finding.remediation


def test_a_model_that_raises_fails_at_current_load_with_its_error(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    class Broken(ZooModel):
        def _call(self, method: str, X: Any) -> Any:
            raise RuntimeError("the feature store is down")

    finding = LoadProbe().run(make_system(Broken(binary_model), binary_data, rps=5.0), CTX)
    assert finding.status is Status.FAIL
    current = next(c for c in finding.checks if c.name == "current load (1x)")
    assert current.status is Status.FAIL and "crashed x10" in current.message
    assert "RuntimeError: the feature store is down" in current.message
    assert finding.measurements["capacity_multiplier"] is None
    # Failing today is the news, with its reason, whatever the 10x phase says.
    assert finding.summary.startswith("At its current load (5.0 req/s) the system already misses")
    assert "the feature store is down" in finding.summary


# -- bounded: cancellation and the time limit -------------------------------------------------


def test_cancellation_stops_the_probe_promptly(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame], knee_server: Server
) -> None:
    system = make_system(binary_model, binary_data, rps=5.0, url=knee_server.url, phase_s=60)
    context = ProbeContext(seed=0)
    threading.Timer(1.0, context.cancel.set).start()
    start = time.perf_counter()
    with pytest.raises(ProbeCancelled):
        LoadProbe().run(system, context)
    assert time.perf_counter() - start < 2.5
    assert not [t for t in threading.enumerate() if t.name.startswith("prodready-load")]


def children() -> set[int]:
    """Process ids whose parent is this process (but multiprocessing's resource tracker,
    which a spawned child starts once and which lives as long as this process)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if int(fields[1]) != os.getpid() or b"multiprocessing.resource_tracker" in command:
            continue
        found.add(int(entry))  # a zombie too: the probe's process must have been reaped
    return found


def served(server: Server) -> int:
    with urllib.request.urlopen(server.url + "/stats", timeout=5) as answer:
        return int(json.loads(answer.read())["requests"])


def test_a_load_probe_past_its_time_limit_leaves_no_process_behind(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    with serve("fixed", service_ms=2) as server:
        before = children()
        system = make_system(binary_model, binary_data, rps=50.0, url=server.url, phase_s=120)
        system.policy = Policy(probe_timeout_s=8.0)
        start = time.perf_counter()
        result = assess(system, probes={"Q1": LoadProbe}, questions=["Q1"])
        took = time.perf_counter() - start
        finding = result.finding("Q1")
        assert finding.status is Status.ERROR and "time limit" in finding.summary
        assert took < 8.0 + 3.0 + 2.0  # the limit, the grace period, some slack
        assert children() == before  # the probe's process is gone (and reaped)
        sent = served(server)
        assert sent > 50  # the generator was running when the limit came
        time.sleep(0.5)
        assert served(server) == sent  # and nothing sends any more
