"""Time the Q4 rollback rehearsal (and Q9 with it) on the production example, served for real.

The bundled example's production variant (``prodready.example.ensure_example``, ``--rows``
per window) is registered in its MLflow registry as version 1 with alias ``champion`` and
served by ``mlflow models serve`` from a pyfunc that follows the alias. The script serves
it once (the server start-up is timed apart: it is not part of a rehearsal), then runs the
Q4 rehearsal ``--runs`` times and reports, per run, the time-to-restore (from triggering the
rollback until the endpoint serves the original again), the time for the deployment to reach
the endpoint, the failed requests and the whole rehearsal time; then Q9 (the retraining
rehearsal) once, when its probe is there, and the sum of the Q4 and Q9 medians against the
target (15 s on a 2-core machine, issue 9). The load average is printed before and after.

    OMP_NUM_THREADS=1 python benchmarks/bench_rollback.py [--runs 3] [--rows 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scikit-learn load (FACTS.md)

TARGET_S = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Q4 rehearsals")
    parser.add_argument("--rows", type=int, default=5000, help="rows per example window")
    parser.add_argument("--dir", type=Path, default=None, help="example folder (default: temp)")
    args = parser.parse_args()

    from prodready import load_spec
    from prodready.adapters import open_registry, serve_mlflow
    from prodready.example import PRODUCTION_SPEC, ensure_example
    from prodready.probes import ProbeContext, builtin_probes

    print(f"load average before: {os.getloadavg()}  (2-core machine: above ~1.5 is busy)")
    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as scratch:
        folder = args.dir or Path(scratch) / "example"
        t = time.perf_counter()
        ensure_example(folder, n_rows=args.rows, served=True)
        print(f"example ready in {time.perf_counter() - t:.1f} s ({args.rows:,} rows per window)")
        system = load_spec(folder / PRODUCTION_SPEC)
        assert system.endpoint is not None and system.endpoint.serve is not None
        env = {}
        if system.decision_log is not None:
            env["PRODREADY_DECISION_LOG"] = str(system.decision_log)
        t = time.perf_counter()
        registry_uri = open_registry(system).uri
        with serve_mlflow(
            system.endpoint.serve, env=env, log_dir=scratch, registry_uri=registry_uri
        ) as server:
            print(f"server up in {time.perf_counter() - t:.1f} s (not part of the rehearsal)")
            served = replace(system, endpoint=replace(system.endpoint, url=server.url))
            q4 = builtin_probes()["Q4"]
            restore, deploy, total = [], [], []
            for run in range(args.runs):
                t = time.perf_counter()
                finding = q4().run(served, ProbeContext(seed=run))
                took = time.perf_counter() - t
                m = finding.measurements
                print(
                    f"Q4 run {run + 1}: {finding.status.value.upper():4}  restore "
                    f"{m.get('restore_s')} s  deploy {m.get('deploy_s')} s  failed requests "
                    f"{m.get('failed_requests')} of {m.get('requests')}  rehearsal {took:.2f} s"
                )
                if finding.status.value != "pass":
                    print(f"   {finding.summary}")
                if m.get("restore_s") is not None:
                    restore.append(float(m["restore_s"]))
                if m.get("deploy_s") is not None:
                    deploy.append(float(m["deploy_s"]))
                total.append(took)
            q4_median = statistics.median(total)
            if restore:
                print(
                    f"time-to-restore: median {statistics.median(restore):.3f} s, max "
                    f"{max(restore):.3f} s; deployment reaches the endpoint: median "
                    f"{statistics.median(deploy):.3f} s"
                )
            print(f"Q4 rehearsal: median {q4_median:.2f} s over {len(total)} runs")
            q9_cls = builtin_probes().get("Q9")
            if q9_cls is None:
                print("Q9: no probe registered yet; Q4 alone against the target")
                q9_s = 0.0
            else:
                t = time.perf_counter()
                q9 = q9_cls().run(served, ProbeContext(seed=0))
                q9_s = time.perf_counter() - t
                print(f"Q9 rehearsal: {q9.status.value.upper()} in {q9_s:.2f} s")
    both = q4_median + q9_s
    verdict = "within" if both <= TARGET_S else "OVER"
    print(f"Q4 + Q9: {both:.2f} s ({verdict} the {TARGET_S:g} s target)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
