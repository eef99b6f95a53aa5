"""The ONNX round trip of the bundled example's classifier (Q10's portable export).

The example's pipeline (one-hot encoding + HistGradientBoosting, 100 trees of depth at most
6, ``train_model`` on 5,000 training rows) converted with skl2onnx, then run in a clean
child process (``python -I``, onnxruntime and numpy only) on a sample of the reference data
and compared with scikit-learn's probabilities. Reports, as medians of ``--repeats`` runs:
the conversion time, the clean-process check (start-up, import of onnxruntime, inference,
results back), the ONNX file's size and the largest probability difference.

    OMP_NUM_THREADS=1 python benchmarks/bench_onnx.py [--rows 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from prodready.example.data import FEATURES, generate_applicants
from prodready.example.train import train_model
from prodready.probes.vendor_independence._export import (
    check_onnx,
    original_predictions,
    to_onnx_bytes,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500, help="reference rows compared")
    parser.add_argument("--repeats", type=int, default=5, help="runs (medians reported)")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}  (2-core machine: above ~1.5 is busy)")
    model = train_model(generate_applicants(5000, seed=0, window="training"))
    frame = generate_applicants(args.rows, seed=0, window="reference")[FEATURES]
    expected = original_predictions(model, frame, proba=True)
    convert_s: list[float] = []
    check_s: list[float] = []
    diffs: list[float] = []
    size = 0
    for _ in range(args.repeats):
        started = time.perf_counter()
        onnx_bytes, single = to_onnx_bytes(model, frame)
        convert_s.append(time.perf_counter() - started)
        size = len(onnx_bytes)
        result = check_onnx(onnx_bytes, single, frame, expected, True, timeout_s=300)
        assert result.max_diff is not None, result.problem
        check_s.append(result.check_s)
        diffs.append(result.max_diff)
    convert = statistics.median(convert_s)
    check = statistics.median(check_s)
    print(f"rows compared:               {args.rows}")
    print(f"ONNX model size:             {size / 1024:.0f} KiB")
    print(f"export (skl2onnx):           {convert * 1e3:7.0f} ms")
    print(f"clean-process check (ort):   {check * 1e3:7.0f} ms")
    print(f"round trip:                  {(convert + check) * 1e3:7.0f} ms")
    print(f"max |sklearn - onnxruntime|: {max(diffs):.2e}  (tolerance 1e-05)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
