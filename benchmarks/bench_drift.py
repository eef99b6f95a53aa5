"""Benchmark of the drift engines: wall time and peak memory on synthetic tabular data.

For each engine and row count, a child process generates the data (20 numeric + 5 categorical
columns per side, a few of them shifted on purpose), runs the engine ``--repeat`` times and
reports its times and its peak resident memory (``ru_maxrss``, data included). One process per
case keeps the peak of one case from hiding another's.

The scipy engine must stay under 0.4 s at 100k rows per side, and under 4 s and 1 GB peak at 1M
rows per side, on a 2-core machine, and its effect sizes (PSI, Wasserstein) must add less than
20 % to its time; the table says whether it did. For that, each repeat of the scipy engine runs
it twice, with and without effect sizes, in alternating order (so that both see the same load);
the overhead is the median of the paired ratios. ``--unequal`` drops 1 row of 7 of the current
data (unequal sizes take the general path of the Wasserstein distance). Times are wall-clock: on
a busy machine they grow, so the load average is printed with them (before and after each case).

    python benchmarks/bench_drift.py [--rows 100000 1000000] [--engines scipy alibi] [--repeat 3]
        [--unequal]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

N_NUMERIC = 20
N_CATEGORICAL = 5
CATEGORIES = ["a", "b", "c", "d", "e"]
SEED = 20240601

#: What is shifted in the current data, so that the expected verdict is known.
SHIFTED = ["num00", "num01", "cat0"]

#: Limits of the scipy engine: rows per side -> (seconds, peak MB or None).
LIMITS: dict[int, tuple[float, float | None]] = {100_000: (0.4, None), 1_000_000: (4.0, 1024.0)}
#: Most the effect sizes may add to the scipy engine's time (median of paired ratios - 1).
MAX_EFFECT_OVERHEAD = 0.20


def make_frame(rows: int, *, shifted: bool, seed: int) -> pd.DataFrame:
    """One side of the benchmark data, built column by column to keep peak memory low.

    ``shifted`` moves num00 (mean +0.05 sd), num01 (sd x 1.05) and cat0 (category frequencies).
    """
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        values = rng.standard_normal(rows)
        if shifted and i == 0:
            values += 0.05
        if shifted and i == 1:
            values *= 1.05
        columns[f"num{i:02d}"] = values
    probs = np.array([0.35, 0.25, 0.2, 0.15, 0.05])
    for j in range(N_CATEGORICAL):
        p = np.array([0.33, 0.25, 0.2, 0.15, 0.07]) if shifted and j == 0 else probs
        codes = rng.choice(len(CATEGORIES), size=rows, p=p).astype(np.int8)
        columns[f"cat{j}"] = pd.Categorical.from_codes(codes, categories=pd.Index(CATEGORIES))
    # copy=False: pandas 3 copies numpy arrays into a new frame by default.
    return pd.DataFrame(columns, copy=False)


def run_case(engine_name: str, rows: int, repeat: int, unequal: bool = False) -> dict[str, Any]:
    """Child process: generate the data, time the engine, report JSON-able results."""
    from prodready.drift import ScipyEngine, get_engine

    load_before = os.getloadavg()[0]
    engine = get_engine(engine_name)
    categorical = [f"cat{j}" for j in range(N_CATEGORICAL)]

    # The engines import scipy.stats / alibi_detect on first use: time that apart.
    tiny_ref = make_frame(50, shifted=False, seed=1)
    tiny_cur = make_frame(50, shifted=False, seed=2)
    start = time.perf_counter()
    engine.detect(tiny_ref, tiny_cur, categorical=categorical)
    first_call = time.perf_counter() - start

    reference = make_frame(rows, shifted=False, seed=SEED)
    current = make_frame(rows, shifted=True, seed=SEED + 1)
    if unequal:
        current = current.iloc[np.arange(rows) % 7 != 0]
    # Without effect sizes (the engine as it was before them): scipy engine only.
    baseline = ScipyEngine() if isinstance(engine, ScipyEngine) else None
    if baseline is not None:
        baseline._effect_sizes = False
    times: list[float] = []
    cpu_times: list[float] = []
    plain_times: list[float] = []
    plain_cpu_times: list[float] = []
    flagged: list[str] = []
    significant: list[str] = []
    for i in range(repeat):
        runs = [(engine, times, cpu_times)]
        if baseline is not None:
            runs.insert(i % 2, (baseline, plain_times, plain_cpu_times))
        for eng, wall, cpu in runs:
            start, cpu_start = time.perf_counter(), time.process_time()
            report = eng.detect(reference, current, categorical=categorical)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
            if eng is engine:
                flagged, significant = report.drifted, report.significant
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "engine": engine_name,
        "rows": rows,
        "times": times,
        "cpu_times": cpu_times,
        "plain_times": plain_times,
        "plain_cpu_times": plain_cpu_times,
        "first_call": first_call,
        "peak_mb": peak_kb / 1024,
        "flagged": flagged,
        "significant": significant,
        "load": [load_before, os.getloadavg()[0]],
    }


def overhead(result: dict[str, Any], kind: str = "times") -> float | None:
    """What the effect sizes add: median over repeats of (time with / time without) - 1.

    ``kind`` "times" (wall clock) or "cpu_times" (process CPU time, less sensitive to load).
    """
    pairs = list(zip(result[kind], result.get(f"plain_{kind}", []), strict=False))
    if not pairs:
        return None
    return float(statistics.median(with_ / without for with_, without in pairs)) - 1.0


def spawn_case(engine_name: str, rows: int, repeat: int, unequal: bool) -> dict[str, Any]:
    """Run one case in a fresh interpreter, so that its peak memory is its own."""
    cmd = [sys.executable, __file__, "--child", engine_name, str(rows), str(repeat)]
    if unequal:
        cmd.append("--unequal")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"engine": engine_name, "rows": rows, "error": proc.stderr.strip()[-2000:]}
    last = proc.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result


def verdict(result: dict[str, Any]) -> str:
    """PASS/FAIL against the scipy engine's limits, '-' where no limit applies."""
    if result["engine"] != "scipy" or result["rows"] not in LIMITS:
        return "-"
    max_s, max_mb = LIMITS[result["rows"]]
    ok = statistics.median(result["times"]) < max_s
    if max_mb is not None:
        ok = ok and result["peak_mb"] < max_mb
    extra = overhead(result)
    if extra is not None:
        ok = ok and extra < MAX_EFFECT_OVERHEAD
    limit = f"<{max_s:g} s" + (f", <{max_mb:g} MB" if max_mb is not None else "")
    limit += f", effect sizes <+{MAX_EFFECT_OVERHEAD:.0%}" if extra is not None else ""
    return ("PASS " if ok else "FAIL ") + limit


def print_table(results: list[dict[str, Any]], repeat: int) -> None:
    header = (
        f"{'engine':<7} {'rows/side':>10} {'median s':>9} {'min s':>7} {'cpu s':>7} "
        f"{'w/o ES s':>8} {'ES +%':>6} {'cpu +%':>6} {'import s':>8} {'peak MB':>8} {'load':>9}  "
        f"{'flagged (significant)':<28} {'limit'}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if "error" in r:
            print(f"{r['engine']:<7} {r['rows']:>10,} ERROR: {r['error'].splitlines()[-1]}")
            continue
        flagged = ",".join(r["flagged"]) or "(none)"
        also = [f for f in r["significant"] if f not in r["flagged"]]
        flagged += f" ({','.join(also)})" if also else ""
        extra = overhead(r)
        plain = f"{statistics.median(r['plain_times']):>8.3f}" if r["plain_times"] else f"{'-':>8}"
        added = f"{extra:>+6.0%}" if extra is not None else f"{'-':>6}"
        extra_cpu = overhead(r, "cpu_times")
        added += f" {extra_cpu:>+6.0%}" if extra_cpu is not None else f" {'-':>6}"
        load = f"{r['load'][0]:.2f}-{r['load'][1]:.2f}"
        print(
            f"{r['engine']:<7} {r['rows']:>10,} {statistics.median(r['times']):>9.3f} "
            f"{min(r['times']):>7.3f} {statistics.median(r['cpu_times']):>7.3f} "
            f"{plain} {added} {r['first_call']:>8.2f} {r['peak_mb']:>8.0f} {load:>9}  "
            f"{flagged:<28} {verdict(r)}"
        )
    print()
    print(
        f"median/min of {repeat} runs (wall clock); cpu s = process CPU time (all threads); "
        "w/o ES s = median time of the same engine without effect sizes (PSI, Wasserstein), "
        "ES +% = median of the paired ratios - 1 (cpu +%: the same on CPU times); "
        "import s = first call on tiny data (lazy imports); peak MB = ru_maxrss of the case's "
        "process, data included; load = 1-minute load average before-after the case. "
        "flagged = significant with PSI >= 0.1; in brackets: significant, PSI below 0.1. "
        f"Shifted on purpose: {', '.join(SHIFTED)}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["scipy", "alibi"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--unequal", action="store_true", help="current data 1/7 smaller than the reference"
    )
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "ROWS", "REPEAT"), help="internal")
    args = parser.parse_args(argv)

    if args.child:
        engine_name, rows, repeat = args.child[0], int(args.child[1]), int(args.child[2])
        print(json.dumps(run_case(engine_name, rows, repeat, args.unequal)))
        return 0

    engines = list(args.engines)
    if "alibi" in engines and importlib.util.find_spec("alibi_detect") is None:
        print("alibi-detect is not installed: skipping the alibi engine", file=sys.stderr)
        engines.remove("alibi")
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"numpy {np.__version__}, pandas {pd.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    sizes = " (current: 6/7 of the rows)" if args.unequal else ""
    print(f"{N_NUMERIC} numeric + {N_CATEGORICAL} categorical columns per side{sizes}\n")
    results = [
        spawn_case(e, rows, args.repeat, args.unequal) for rows in args.rows for e in engines
    ]
    print_table(results, args.repeat)
    failed = any(verdict(r).startswith("FAIL") or "error" in r for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
