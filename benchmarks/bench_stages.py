"""Time each stage of an assessment of the bundled example system.

Stages: imports, building the example (first use only), loading the spec (model + data),
each built-in probe, papermill (executing the assessment notebook), nbconvert (rendering the
report), and the whole ``prodready assess`` command as a user runs it. Run with the project's
environment:

    .venv/bin/python benchmarks/bench_stages.py [--rows 100000] [--engine alibi]

Target (issue 2): the whole ``prodready assess`` of the example, once installed and trained,
under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/scikit-learn load (FACTS.md)

T = TypeVar("T")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per example window")
    parser.add_argument("--engine", default="auto", choices=["auto", "scipy", "alibi"])
    parser.add_argument("--dir", default=".cache/example", help="where the example lives")
    args = parser.parse_args()

    times: list[tuple[str, float]] = []
    start = time.perf_counter()
    import nbformat
    import sklearn.pipeline  # noqa: F401  (what loading a model pulls in)
    import skops.io  # noqa: F401

    from prodready import ProbeContext, load_spec, registered_probes, run_assessment
    from prodready.example import ensure_example
    from prodready.report.exporter import render_html

    times.append(("imports (pandas, scikit-learn, skops, prodready)", time.perf_counter() - start))

    def timed(name: str, func: Callable[..., T], *a: Any, **kw: Any) -> T:
        start = time.perf_counter()
        value = func(*a, **kw)
        times.append((name, time.perf_counter() - start))
        return value

    spec = timed(
        "example: generate + train (or reuse)", ensure_example, Path(args.dir), n_rows=args.rows
    )
    system = timed("load spec: model + data", load_spec, spec)
    if args.engine != "auto":
        system = system.with_settings("monitoring", engine=args.engine)
    for question, entry in registered_probes().items():
        assert entry.probe is not None
        probe = entry.probe()
        timed(
            f"probe {question} ({entry.probe.__name__})",
            probe.run,
            system,
            ProbeContext(deadline=float("inf")),
        )
    with tempfile.TemporaryDirectory() as out:
        run = timed(
            "papermill + nbconvert (run_assessment)",
            run_assessment,
            spec,
            out,
            drift_engine=args.engine,
        )
        notebook = nbformat.read(run.notebook, as_version=4)
        timed("nbconvert alone (render_html)", render_html, notebook)
        command = [
            str(Path(sys.executable).with_name("prodready")),
            "assess",
            str(spec),
            "--out",
            out,
            "--engine",
            args.engine,
            "-q",
        ]
        start = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True)
        times.append(("prodready assess (whole command)", time.perf_counter() - start))

    print(
        f"Stages on the example system ({args.rows:,} rows per window, engine "
        f"{args.engine}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}):"
    )
    for name, seconds in times:
        print(f"  {name:<50} {seconds:8.2f} s")


if __name__ == "__main__":
    main()
