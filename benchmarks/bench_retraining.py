"""Time the Q9 self-retraining rehearsal on the production example system.

The production example (``prodready.example``, ``--rows`` per window) with its registry
(version 1 = the served model, alias ``champion``) and its retrain hook
(``prodready.example.retrain``): the probe degrades the model with a concept shift, checks
the trigger, retrains through the hook (``training_rows`` rows), registers the candidate,
scores it in-process and restores the registry. When the example's spec does not name a
registry or a hook yet, a registry is made in a temporary folder and the hook and trigger
are set as the production spec sets them.

Reports the time of each step (from the probe's progress notes), the rehearsal's total
(import of MLflow reported apart: a run pays it once, shared with Q4 and Q8), and the
metrics before and after. Target: Q4 and Q9 together under 15 s on a 2-core machine
(issue 9). Wall-clock times: the load average is printed before and after.

    python benchmarks/bench_retraining.py [--rows 100000] [--training-rows 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scikit-learn load (FACTS.md)

#: The retraining trigger the production example declares when its spec has none yet.
FALLBACK_SETTINGS: dict[str, Any] = {"metric": "roc_auc", "threshold": 0.7, "window": 5000}


def _system(directory: Path, rows: int, scratch: Path) -> Any:
    from prodready import load_spec
    from prodready.example import PRODUCTION_SPEC, ensure_example

    ensure_example(directory, n_rows=rows)
    system = load_spec(directory / PRODUCTION_SPEC)
    changes: dict[str, Any] = {}
    if system.registry is None:
        from prodready.adapters.registry import MLflowRegistry
        from prodready.system import Registry

        uri = f"sqlite:///{scratch}/mlflow.db"
        registry = MLflowRegistry(uri)
        version = registry.register("credit-risk", directory / "production")
        registry.set_alias("credit-risk", "champion", version.version)
        changes["registry"] = Registry(uri=uri, model_name="credit-risk")
        print("the example's spec names no registry yet: one made in a temporary folder")
    if "retrain" not in system.hooks:
        changes["hooks"] = {**system.hooks, "retrain": "prodready.example.retrain:retrain"}
    if not isinstance(system.settings.get("retraining"), dict):
        changes["settings"] = {**system.settings, "retraining": dict(FALLBACK_SETTINGS)}
    return dataclasses.replace(system, **changes) if changes else system


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per example window")
    parser.add_argument("--dir", default=".cache/example", help="where the example lives")
    parser.add_argument("--training-rows", type=int, default=None, help="override the spec's")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()}")
    start = time.perf_counter()
    import mlflow  # noqa: F401  - paid once per run, by whichever lifecycle probe comes first

    print(f"import mlflow: {time.perf_counter() - start:.2f} s")
    from prodready.adapters.registry import open_registry
    from prodready.probes import ProbeContext, RetrainingProbe

    with tempfile.TemporaryDirectory(prefix="bench-retraining-") as scratch:
        start = time.perf_counter()
        system = _system(Path(args.dir), args.rows, Path(scratch))
        print(f"example and registry ready: {time.perf_counter() - start:.2f} s")
        if args.training_rows is not None:
            system = system.with_settings("retraining", training_rows=args.training_rows)
        print(f"settings: {system.settings['retraining']}")
        fingerprint = open_registry(system).fingerprint()
        totals = []
        for run in range(args.runs):
            steps: list[tuple[str, float]] = []
            begin = time.perf_counter()

            def progress(step: str, fraction: float | None, steps: Any = steps) -> None:
                steps.append((step, time.perf_counter()))

            finding = RetrainingProbe().run(system, ProbeContext(seed=0, progress=progress))
            end = time.perf_counter()
            totals.append(end - begin)
            print(f"\nrun {run + 1}: {finding.status.label} in {end - begin:.2f} s")
            marks = [*steps, ("end", end)]
            for (step, at), (_, after) in itertools.pairwise(marks):
                print(f"  {after - at:6.2f} s  {step}")
            m = finding.measurements
            print(f"  retrain hook: {m['retrain_s']:.2f} s; region {m['region']['description']}")
            print(f"  served model {m['metric']}: {m['serving']}")
            print(f"  new model    {m['metric']}: {m['candidate']}")
            assert open_registry(system).fingerprint() == fingerprint, "registry not restored"
        print(f"\nrehearsal median {statistics.median(totals):.2f} s over {len(totals)} runs")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
