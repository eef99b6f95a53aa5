"""Signing and verifying a run folder (target < 100 ms each), and a ledger append (< 5 ms).

The run folder is synthetic, sized like a full assessment's (report.html and
assessment.ipynb of a few MB each with their embedded figures, results.json, the spec,
monitor.json): signing and verifying cost is hashing those bytes plus one Ed25519 operation.
The ledger append is one ``append_run`` (hash results.json and the envelope, take the
``flock``, read the tail, write a line), on a ledger already holding 10,000 lines; with and
without fsync.

    python benchmarks/bench_attest.py [--mb 3] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prodready.attest import append_run, generate_keypair, load_signer, sign_run, verify_run
from prodready.results import Assessment


def _median_ms(func: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=3.0, help="size of report.html and notebook")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = root / "run"
        run.mkdir()
        big = int(args.mb * 1024 * 1024)
        for name, size in (
            ("report.html", big),
            ("assessment.ipynb", big),
            ("results.json", 200_000),
            ("spec.yaml", 2_000),
            ("monitor.json", 20_000),
        ):
            (run / name).write_bytes(os.urandom(size))
        private, public = generate_keypair(root, "bench")
        signer = load_signer(private)
        assessment = Assessment(
            run_id="bench",
            created="2026-01-01T00:00:00+00:00",
            system={"name": "bench", "model": {"sha256": "0" * 64}},
            findings=[],
            scores={"technical": 1.0},
            overall=1.0,
            verdict="ready",
            policy={},
            environment={},
        )
        total = sum(p.stat().st_size for p in run.iterdir()) / 1e6
        sign = _median_ms(lambda: sign_run(run, signer, assessment), args.repeat)
        print(f"sign a run folder ({total:.1f} MB, 5 files)     median {sign:7.2f} ms")
        result = verify_run(run, public)
        assert result.ok, result.problems
        verify = _median_ms(lambda: verify_run(run, public), args.repeat)
        print(f"verify a run folder ({total:.1f} MB, 5 files)   median {verify:7.2f} ms")

        ledger = root / "audit.jsonl"
        for _ in range(10_000 // 500):
            for _ in range(500):
                append_run(ledger, run, assessment, durable=False)
        # Another process's append in between is the usual case: forget our cached head.
        from prodready import _chain

        def fresh_append(durable: bool) -> None:
            _chain._heads.clear()
            append_run(ledger, run, assessment, durable=durable)

        repeat = max(args.repeat, 100)
        plain = _median_ms(lambda: fresh_append(False), repeat)
        synced = _median_ms(lambda: fresh_append(True), repeat)
        print(f"ledger append, lock, 10k-line ledger          median {plain:7.2f} ms")
        print(f"ledger append, lock + fsync (the default)     median {synced:7.2f} ms")
        assert _chain.verify(ledger).ok


if __name__ == "__main__":
    main()
