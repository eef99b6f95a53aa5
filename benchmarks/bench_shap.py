"""How long does explaining 1,000 decisions of the example's model take?

Builds (or reuses) the bundled example system: a Pipeline of one-hot encoded categoricals and
passthrough numerics into a 100-tree HistGradientBoostingClassifier, trained on 100,000
synthetic applicants. Times :func:`prodready.explain.explain` on 1,000 current decisions:
median of 3 runs, after one warm-up run that also pays for importing shap.
Target (issue 2): under 1 s on a 2-core machine.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_shap.py``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before scikit-learn loads (FACTS.md)

from prodready import load_spec
from prodready.example import ensure_example
from prodready.explain import explain


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="decisions to explain")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=".cache/example", help="where the example lives")
    args = parser.parse_args()

    system = load_spec(ensure_example(args.dir))
    decisions = system.X("current").iloc[: args.rows]
    background = system.X("reference").iloc[:100]

    start = time.perf_counter()
    explain(system.model, decisions, background=background)
    first = time.perf_counter() - start
    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        explanation = explain(system.model, decisions, background=background)
        runs.append(time.perf_counter() - start)
    median = statistics.median(runs)
    print(
        f"explain: {len(decisions)} decisions of the example model "
        f"({len(system.feature_columns)} input columns), explainer={explanation.explainer}, "
        f"additivity error={explanation.additivity_error():.1e}"
    )
    print(f"  first call (imports shap): {first:.3f} s")
    print(
        f"  median of {args.repeat}: {median:.3f} s (runs: "
        + ", ".join(f"{r:.3f}" for r in runs)
        + ")"
        + ("  PASS < 1 s" if median < 1 else "  OVER the 1 s target")
    )


if __name__ == "__main__":
    main()
