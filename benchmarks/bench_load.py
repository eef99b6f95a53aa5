"""The load generator's own ceiling on this machine: how fast it keeps its schedule.

Two targets, each at rising rates, one phase per rate (``--seconds`` measured after a
0.5 s warm-up):

* HTTP: ``POST /invocations`` to a trivial loopback server (``tests/load/servers.py
  trivial``, a separate process answering at once) over kept-alive connections; target at
  least 2,000 requests/s on schedule (issue 7);
* in-process: a trivial callable from worker threads; target at least 20,000 calls/s.

A rate is *on schedule* when the phase is conclusive under the load probe's defaults (at
most 1% of the requests sent more than 10 ms late by the generator), every request was
answered and at least 99% of the offered rate was achieved. Each
line prints the offered and achieved rate, the generator's lagged share and worst lag, the
latency percentiles and the machine's load average (1 min): the server and the generator
share its cores.

    python benchmarks/bench_load.py [--seconds 3] [--http 1000,2000,...] [--calls 10000,...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from prodready.load import CallTarget, HTTPTarget, PhasePlan, PhaseResult, run_phase

HTTP_TARGET = 2_000.0
CALLS_TARGET = 20_000.0
SERVER = Path(__file__).resolve().parent.parent / "tests" / "load" / "servers.py"
BODY = (
    b'{"dataframe_split": {"columns": ["income", "debt_ratio", "age", "balance", "region"], '
    b'"data": [[48000.0, 0.31, 42.0, 5100.0, "north"]]}}'
)


def _line(kind: str, result: PhaseResult) -> str:
    return (
        f"{kind:<10} offered {result.offered_rps:>9,.0f}/s  achieved {result.achieved_rps:>9,.0f}/s"
        f"  lagged {result.lagged_share:6.2%} (worst {result.max_lag_ms:5.1f} ms)"
        f"  p50 {result.p50_ms:6.2f}  p99 {result.p99_ms:6.2f}  max {result.max_ms:6.1f} ms"
        f"  errors {result.errors + result.timeouts:>4}  load {os.getloadavg()[0]:.2f}"
    )


def _on_schedule(result: PhaseResult) -> bool:
    return result.conclusive and result.achieved_share >= 0.99 and result.error_rate == 0


def _sweep(kind: str, target: HTTPTarget | CallTarget, rates: list[float], seconds: float) -> float:
    plan = PhasePlan(duration_s=seconds, warmup_s=0.5, max_requests=1_000_000, threads=2)
    best = 0.0
    for rate in rates:
        result = run_phase(target, rate, plan)
        print(_line(kind, result), "" if _on_schedule(result) else "  <- off schedule", flush=True)
        if _on_schedule(result):
            best = max(best, result.offered_rps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--http", default="1000,2000,3000,4000,6000,8000,10000")
    parser.add_argument("--calls", default="10000,20000,40000,80000")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "trivial"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().decode().split()[1]
        target = HTTPTarget(f"http://127.0.0.1:{port}/invocations", [BODY])
        http_best = _sweep("HTTP", target, [float(r) for r in args.http.split(",")], args.seconds)
    finally:
        proc.terminate()
        proc.wait(5)

    calls = CallTarget(lambda payload: payload, [BODY])
    calls_best = _sweep(
        "in-process", calls, [float(r) for r in args.calls.split(",")], args.seconds
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for kind, best, target_rate in (
        ("HTTP", http_best, HTTP_TARGET),
        ("in-process", calls_best, CALLS_TARGET),
    ):
        verdict = "meets" if best >= target_rate else "MISSES"
        print(
            f"{kind}: on schedule up to {best:,.0f} requests/s ({verdict} the target of "
            f"{target_rate:,.0f})"
        )


if __name__ == "__main__":
    main()
