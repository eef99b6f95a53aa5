"""How long bad input takes to reach its one-line message and exit 2 (target: < 3 s).

Each case edits a copy of the example's spec and runs ``prodready assess`` as a user would, in
a fresh process, so the time includes Python's start-up and every import. Bad input must be
found in that process, before any kernel starts (the kernel alone costs seconds).

    python benchmarks/bench_bad_input.py [--rows 3000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prodready.example import ensure_example

CASES: dict[str, tuple[str, str, list[str]]] = {
    "malformed YAML": ("data:\n", "data: [\n", []),
    "spec version 1": ("version: 2", "version: 1", []),
    "unknown target column": ("target: default", "target: defaulted", []),
    "bad probe setting (monitoring.alpha: 2)": ("  alpha: 0.05", "  alpha: 2", []),
    "unknown question (--questions Q42)": ("", "", ["--questions", "Q42"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="rows per example window")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("prodready")
    with tempfile.TemporaryDirectory() as tmp:
        spec = ensure_example(Path(tmp) / "example", n_rows=args.rows)
        print(f"load average: {os.getloadavg()}")
        for name, (old, new, extra) in CASES.items():
            bad = spec.with_name("bad.yaml")
            bad.write_text(spec.read_text().replace(old, new) if old else spec.read_text())
            times, lines, codes = [], [], set()
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = subprocess.run(
                    [str(exe), "assess", str(bad), "--out", str(Path(tmp) / "out"), *extra],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                times.append(time.perf_counter() - start)
                codes.add(result.returncode)
                lines.append(len(result.stderr.strip().splitlines()))
            print(
                f"{name:42} median {statistics.median(times):5.2f} s  exit {sorted(codes)}  "
                f"stderr lines {max(lines)}"
            )


if __name__ == "__main__":
    main()
