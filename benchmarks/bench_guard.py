"""The guard's added latency per decision over the bare model (target: under 0.5 ms at p50).

In-process, one-row calls, as a model server makes them: the example's classifier
(``train_model`` on 5,000 training rows) called with ``predict_proba`` bare, and behind a
:class:`~prodready.guard.Guard` with its decision log on (schema check, decision id, input
digest, one hash-chained log line per call). Calls alternate between the two so that both
see the same machine load; the added latency is the per-call difference, summarised by its
percentiles. Also times the guard's own work alone (the model replaced by a constant), which
is what the added latency should be, without the noise of the model's ~1 ms.

    OMP_NUM_THREADS=1 python benchmarks/bench_guard.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from prodready import _chain
from prodready.example.data import CATEGORICAL, FEATURES, generate_applicants
from prodready.example.train import train_model
from prodready.guard import Guard, InputSchema


class _Constant:
    """A stand-in model that answers instantly: what remains is the guard's own cost."""

    classes_ = np.array([0, 1])
    feature_names_in_ = np.array(FEATURES, dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return np.tile([0.8, 0.2], (len(frame), 1))


def _percentiles(seconds: list[float]) -> str:
    values = np.array(seconds) * 1e3
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:6.3f} ms  p95 {p95:6.3f} ms  p99 {p99:6.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="one-row calls per variant")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}  (2-core machine: above ~1.5 is busy)")
    model = train_model(generate_applicants(5000, seed=0, window="training"))
    reference = generate_applicants(5000, seed=0, window="reference")
    current = generate_applicants(args.calls, seed=0, window="current")[FEATURES]
    schema = InputSchema.learn(reference, FEATURES, CATEGORICAL)
    rows = [current.iloc[[i]] for i in range(len(current))]
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "decisions.jsonl"
        guard = Guard(model, schema, decision_log=log, model_version="bench", model_sha256="0" * 64)
        alone = Guard(_Constant(), schema, decision_log=Path(scratch) / "alone.jsonl")
        for row in rows[:200]:  # warm-up: caches, the log file, lazy imports
            model.predict_proba(row)
            guard.decide(row)
            alone.decide(row)
        bare: list[float] = []
        guarded: list[float] = []
        own: list[float] = []
        clock = time.perf_counter
        for row in rows:
            start = clock()
            model.predict_proba(row)
            middle = clock()
            guard.decide(row)
            end = clock()
            alone.decide(row)
            bare.append(middle - start)
            guarded.append(end - middle)
            own.append(clock() - end)
        added = [g - b for g, b in zip(guarded, bare, strict=True)]
        check = _chain.verify(log)
        print(f"load average after:  {os.getloadavg()}")
        print(
            f"one-row calls: {len(rows)} per variant, pandas {pd.__version__}, "
            f"numpy {np.__version__}"
        )
        print(f"bare model predict_proba     {_percentiles(bare)}")
        print(f"guarded decide (log on)      {_percentiles(guarded)}")
        print(f"added by the guard           {_percentiles(added)}")
        print(f"guard alone (constant model) {_percentiles(own)}")
        print(f"decision log: {check.lines} lines, chain intact: {check.ok}")
        p50 = float(np.percentile(added, 50)) * 1e3
        verdict = "meets" if p50 < 0.5 else "MISSES"
        print(f"added latency p50 {p50:.3f} ms {verdict} the 0.5 ms target")


if __name__ == "__main__":
    main()
