"""Time the online rehearsal (calibration + runs) on the bundled example system.

The example (``prodready.example``, 14 features, ``--rows`` per window) has a real shift
between its reference and current windows. As the monitoring probe does, the detector is
built on a random subset of ``--reference-rows`` reference rows; the other reference rows are
the unshifted stream and the current window the shifted one. Two cases:

* features: the model's 14 input columns (3 categorical);
* output: the model's predicted probability alone (label-free monitoring, one column); the
  time to score the rows is reported apart.

Each case reports the calibration time, the rehearsal time and their total, which must stay
under 10 s on a 2-core machine (issue 8), with the detection delays and false alarms. Times
are wall-clock: the load average is printed before and after.

    python benchmarks/bench_rehearsal.py [--engine scipy|alibi] [--runs 20] [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scikit-learn load (FACTS.md)

import numpy as np
import pandas as pd

LIMIT_SECONDS = 10.0


def _load(
    directory: Path, rows: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], Any, dict[str, float]]:
    from prodready import load_spec
    from prodready.example import ensure_example

    times: dict[str, float] = {}
    start = time.perf_counter()
    spec = ensure_example(directory, n_rows=rows)
    times["example (build or reuse)"] = time.perf_counter() - start
    start = time.perf_counter()
    system = load_spec(spec)
    times["load spec"] = time.perf_counter() - start
    return system.X("reference"), system.X("current"), system.categorical_columns, system, times


def _report(name: str, result: Any) -> dict[str, Any]:
    total = result.calibration_seconds + result.rehearsal_seconds
    row = {
        "case": name,
        "engine": result.engine,
        "calibration s": round(result.calibration_seconds, 2),
        "rehearsal s": round(result.rehearsal_seconds, 2),
        "total s": round(total, 2),
        "within limit": total < LIMIT_SECONDS,
        "detected": f"{result.detected}/{result.runs}",
        "median delay": result.median_delay,
        "p90 delay": result.p90_delay,
        "false alarms /1000": round(result.false_alarms_per_1000, 2),
        "expected /1000": result.expected_false_alarms_per_1000,
        "detected by": result.detected_by,
    }
    for key, value in row.items():
        print(f"  {key:>20}: {value}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engine", default="scipy", choices=["scipy", "alibi", "auto"])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per example window")
    parser.add_argument("--dir", default=".cache/example", help="where the example lives")
    parser.add_argument("--reference-rows", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--max-decisions", type=int, default=2_000)
    parser.add_argument("--ert", type=float, default=1_000.0)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--no-output", action="store_true", help="skip the model-output case")
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()}")
    start = time.perf_counter()
    from prodready.online import get_online_engine, rehearse

    engine = get_online_engine(args.engine)
    print(f"import prodready.online: {time.perf_counter() - start:.2f} s")
    reference, current, categorical, system, times = _load(Path(args.dir), args.rows)
    for key, value in times.items():
        print(f"{key}: {value:.2f} s")

    rng = np.random.default_rng(0)
    order = rng.permutation(len(reference))
    calib = order[: args.reference_rows]
    held_out = order[args.reference_rows :]
    settings: dict[str, Any] = {
        "ert": args.ert,
        "window": args.window,
        "warmup": args.warmup,
        "max_decisions": args.max_decisions,
        "runs": args.runs,
        "seed": 0,
    }
    print(
        f"\nengine {engine.name}: reference {len(calib)} rows, unshifted stream "
        f"{len(held_out)} rows, shifted stream {len(current)} rows; {settings}"
    )

    print("\nfeatures (14 columns):")
    result = rehearse(
        engine,
        reference.iloc[calib],
        reference.iloc[held_out],
        current,
        categorical=categorical,
        **settings,
    )
    _report("features", result)

    if not args.no_output:
        start = time.perf_counter()
        model = system.model
        ref_out = model.predict_proba(reference)[:, 1][:, None]
        cur_out = model.predict_proba(current)[:, 1][:, None]
        scoring = time.perf_counter() - start
        print(
            f"\nmodel output (1 column; scoring {len(reference) + len(current)} rows: "
            f"{scoring:.2f} s, not included):"
        )
        result = rehearse(engine, ref_out[calib], ref_out[held_out], cur_out, **settings)
        _report("output", result)

    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
