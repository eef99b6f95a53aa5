"""How long does explaining 1,000 decisions take?

Builds the typical credit model (one-hot encoded categoricals and passthrough numerics in a
ColumnTransformer, then a HistGradientBoostingClassifier with its default 100 trees; early
stopping is off so that all 100 are built) on 20,000 deterministic synthetic rows with 12 input
columns, and times :func:`prodready.explain.explain` on 1,000 rows: median of 3 runs, after one
warm-up run that also pays for importing shap. Target: under 1 s on a 2-core machine.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_shap.py``
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from prodready.explain import explain

CATEGORICAL = ["purpose", "housing", "employment", "region"]
NUMERIC = [
    "income",
    "debt_ratio",
    "age",
    "balance",
    "duration",
    "amount",
    "n_credits",
    "years_at_address",
]
N_TRAIN = 20_000
N_EXPLAIN = 1_000
REPEATS = 3


def make_data(n: int, seed: int) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """Applicant-like rows and a default label that depends on a few of the columns."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10.8, 0.4, n),
            "debt_ratio": rng.beta(2, 5, n),
            "age": rng.integers(21, 75, n).astype(float),
            "balance": rng.normal(5000, 1500, n),
            "duration": rng.integers(6, 72, n).astype(float),
            "amount": rng.lognormal(8.5, 0.7, n),
            "n_credits": rng.integers(0, 5, n).astype(float),
            "years_at_address": rng.integers(0, 30, n).astype(float),
            "purpose": rng.choice(["car", "furniture", "education", "business", "other"], n),
            "housing": rng.choice(["own", "rent", "free"], n),
            "employment": rng.choice(["none", "<1y", "1-4y", "4-7y", ">7y"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    score = (
        -1.5 * (np.log(frame["income"]) - 10.8)
        + 3.0 * frame["debt_ratio"]
        + 0.02 * (frame["duration"] - 30)
        + 0.5 * (frame["purpose"] == "business")
        + 0.4 * (frame["employment"] == "none")
        + rng.logistic(size=n)
    )
    return frame, (score > 1.2).to_numpy().astype(np.int64)


def build_model(frame: pd.DataFrame, target: npt.NDArray[np.int64]) -> Pipeline:
    model = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                        ("numeric", "passthrough", NUMERIC),
                    ]
                ),
            ),
            ("model", HistGradientBoostingClassifier(early_stopping=False, random_state=0)),
        ]
    )
    return model.fit(frame, target)


def main() -> None:
    frame, target = make_data(N_TRAIN, seed=0)
    model = build_model(frame, target)
    rows, _ = make_data(N_EXPLAIN, seed=1)

    start = time.perf_counter()
    explanation = explain(model, rows, background=frame)
    first = time.perf_counter() - start

    # CPU time as well as wall time: on a shared machine the wall time includes waiting.
    times, cpu_times = [], []
    for _ in range(REPEATS):
        start, cpu_start = time.perf_counter(), time.process_time()
        explanation = explain(model, rows, background=frame)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)

    n_trees = model[-1].n_iter_
    print(
        f"explain: {N_EXPLAIN} rows, {len(CATEGORICAL) + len(NUMERIC)} input columns, "
        f"{explanation.values.shape[1]} features explained, HistGradientBoosting {n_trees} trees"
    )
    error = explanation.additivity_error()
    print(f"  explainer={explanation.explainer}  additivity error={error:.1e}")
    print(f"  first call (imports shap): {first:.3f} s")
    print(
        f"  median of {REPEATS}: {statistics.median(times):.3f} s  "
        f"(runs: {', '.join(f'{t:.3f}' for t in times)}); "
        f"CPU time median {statistics.median(cpu_times):.3f} s"
    )


if __name__ == "__main__":
    main()
