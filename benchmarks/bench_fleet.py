"""A fleet sweep on this machine: N small systems assessed one after the other vs in parallel.

Each system is a copy of the bundled example (``--rows`` rows per data window, 10,000 by
default) under its own name. The sequential loop runs ``prodready assess`` once per system,
as a shell loop would; the sweep runs :func:`prodready.assess_fleet` on a LocalCluster of
``--workers`` processes (its start-up included). Both do the same runs (same questions, same
headless pipeline), so the ratio is what the overlap buys: on two cores, kernel start-ups,
imports and waits of one run overlap with the work of another.

    python benchmarks/bench_fleet.py [--systems 40] [--rows 10000] [--workers 2]
        [--questions Q2,Q5,Q7]

The example is built once under .cache/bench-fleet/ (reused); runs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prodready.example import ensure_example
from prodready.fleet import assess_fleet

_ROOT = Path(__file__).resolve().parents[1]


def _specs(example: Path, folder: Path, n: int) -> list[Path]:
    """``n`` copies of the example's spec, named System 01..N, reading the example's files."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in example.parent.iterdir():
        if item.suffix != ".yaml" and not (folder / item.name).exists():
            (folder / item.name).symlink_to(item)
    text = example.read_text(encoding="utf-8")
    specs = []
    for i in range(1, n + 1):
        spec = folder / f"system-{i:02d}.yaml"
        lines = [
            f"name: System {i:02d}" if line.startswith("name:") else line
            for line in text.splitlines()
        ]
        spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
        specs.append(spec)
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=40)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--questions", default="", help="a subset (Q2,Q5,Q7); default: all ten questions"
    )
    args = parser.parse_args()
    example = ensure_example(_ROOT / ".cache" / "bench-fleet" / "example", n_rows=args.rows)
    questions = [q for q in args.questions.split(",") if q]
    print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        specs = _specs(example, root / "specs", args.systems)
        fleet = root / "specs"
        start = time.perf_counter()
        codes = []
        for spec in specs:
            command = [
                sys.executable,
                "-m",
                "prodready",
                "assess",
                str(spec),
                "--out",
                str(root / "sequential"),
                "--quiet",
                "--ledger",
                "",
                "--sign-key",
                "",
            ]
            if questions:
                command += ["--questions", ",".join(questions)]
            codes.append(subprocess.run(command, capture_output=True, check=False).returncode)
        sequential = time.perf_counter() - start
        print(
            f"sequential loop: {sequential:,.1f} s for {len(specs)} systems "
            f"({sequential / len(specs):.1f} s each; exit codes {sorted(set(codes))})"
        )
        print(f"load average between: {os.getloadavg()}")
        start = time.perf_counter()
        result = assess_fleet(
            fleet, root / "fleet", workers=args.workers, questions=questions or None
        )
        parallel = time.perf_counter() - start
        states = sorted({s.state for s in result.systems})
        print(
            f"LocalCluster of {args.workers} workers: {parallel:,.1f} s "
            f"(states {states}, {sum(s.retried for s in result.systems)} retried)"
        )
    print(f"speed-up: {sequential / parallel:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
