"""The portable export: the model in an open format, run again in a clean process.

ONNX (through skl2onnx) is tried first; skops is the fallback when ONNX cannot express the
model or the ``onnx`` extra is not installed. Either way the export is checked in a *clean*
child process (``python -I``: no user site, no ``PYTHONPATH``) running a minimal script that
imports only the export's runtime (onnxruntime and numpy; for skops, skops with numpy and
pandas), never scikit-learn for ONNX and never prodready. The sample of the reference data
travels through a temporary ``.npz`` file; the child writes its predictions back the same way
and lists the modules it loaded, so the report can show it was clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._settings import first_line

#: Install hint for the ONNX route, said whenever it could not be taken for want of it.
ONNX_HINT = "pip install 'prodready[onnx]'"

# The child for ONNX: onnxruntime and numpy only. Inputs are named columns (N x 1 tensors).
_ONNX_SCRIPT = r"""
import json, sys
import numpy as np
import onnxruntime as ort
model, data, out = sys.argv[1:4]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
arrays = np.load(data, allow_pickle=False)
feeds = {}
for spec in session.get_inputs():
    values = arrays[spec.name]
    if spec.type == "tensor(string)":
        values = values.astype(str).astype(object)
    elif spec.type == "tensor(int64)":
        values = values.astype(np.int64)
    elif spec.type == "tensor(double)":
        values = values.astype(np.float64)
    else:
        values = values.astype(np.float32)
    feeds[spec.name] = values if values.ndim == 2 else values.reshape(-1, 1)
names = [o.name for o in session.get_outputs()]
results = dict(zip(names, session.run(None, feeds)))
np.savez(out, **{k: np.asarray(v) for k, v in results.items()})
print(json.dumps({"modules": sorted(m.split(".")[0] for m in sys.modules),
                  "runtime": "onnxruntime " + ort.__version__}))
"""

# The child for skops: skops loads the file without unpickling; pandas rebuilds the frame.
_SKOPS_SCRIPT = r"""
import json, sys
import numpy as np
import pandas as pd
import skops.io as sio
model, data, out, meta = sys.argv[1:5]
meta = json.loads(meta)
estimator = sio.load(model, trusted=meta["trusted"] or None)
arrays = np.load(data, allow_pickle=False)
frame = pd.DataFrame({c: arrays[c] for c in meta["columns"]})
for c in meta["strings"]:
    frame[c] = frame[c].astype(object)
if meta["proba"]:
    result = estimator.predict_proba(frame)
else:
    result = estimator.predict(frame)
np.savez(out, prediction=np.asarray(result, dtype=np.float64))
print(json.dumps({"modules": sorted(m.split(".")[0] for m in sys.modules),
                  "runtime": "skops"}))
"""


@dataclass
class Export:
    """What the export step found.

    ``route`` is the format used ("onnx", "skops", or "none" when nothing could export the
    model); ``onnx_problem`` why ONNX was not used (None when it was); ``onnx_missing`` True
    when the ``onnx`` extra is not installed; ``max_diff`` the largest absolute difference
    between the original's predictions and the export's on ``rows`` rows (None if the export
    could not be run); ``problem`` what went wrong with the export itself; ``clean`` whether
    the child loaded neither scikit-learn (ONNX route) nor prodready; ``seconds`` the time of
    the export and of the clean-process check.
    """

    route: Literal["onnx", "skops", "none"]
    onnx_problem: str | None = None
    onnx_missing: bool = False
    max_diff: float | None = None
    rows: int = 0
    problem: str | None = None
    runtime: str = ""
    clean: bool | None = None
    forbidden_modules: list[str] = field(default_factory=list)
    size_bytes: int = 0
    export_s: float = 0.0
    check_s: float = 0.0
    worst_row: int | None = None


def initial_types(frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """skl2onnx input types for ``frame``: one N x 1 tensor per column, by its dtype.

    Text and categories become strings, booleans and numbers float32. Numbers go in as float32
    rather than double on purpose: skl2onnx 1.20 converts a pipeline whose inputs are double
    into tree ensembles that answered differently (up to 0.13 in probability on the example),
    while float32 inputs reproduce scikit-learn within 2e-7 (tree thresholds are float32 in
    ONNX's tree operators anyway).
    """
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped]
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    types: list[tuple[str, Any]] = []
    for name in frame.columns:
        kind = frame[name].dtype.kind
        if kind in "iufb":
            types.append((str(name), FloatTensorType([None, 1])))
        elif kind == "M":  # dates cannot be expressed: skl2onnx raises, and skops is used
            types.append((str(name), Int64TensorType([None, 1])))
        else:
            types.append((str(name), StringTensorType([None, 1])))
    return types


def _arrays(frame: pd.DataFrame) -> tuple[dict[str, npt.NDArray[Any]], list[str]]:
    """The columns as plain numpy arrays for an ``.npz`` file (no pickles), and text columns."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    strings: list[str] = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "iufb":
            arrays[str(name)] = column.to_numpy()
        else:
            arrays[str(name)] = column.astype(str).to_numpy().astype(str)
            strings.append(str(name))
    return arrays, strings


def original_predictions(model: Any, frame: pd.DataFrame, proba: bool) -> npt.NDArray[Any]:
    """The original model's answers on ``frame``: probabilities for classifiers."""
    result = model.predict_proba(frame) if proba else model.predict(frame)
    return np.asarray(result, dtype=np.float64)


def to_onnx_bytes(model: Any, frame: pd.DataFrame) -> tuple[bytes, bool]:
    """The model converted to ONNX, with probabilities as a plain tensor (no ZipMap).

    One input per column first (a Pipeline's ColumnTransformer picks its columns by name);
    a bare estimator takes one matrix, so a numeric frame is tried next as a single N x F
    float32 input named ``X``. Returns the model's bytes and whether it takes that single
    input. Raises ImportError without skl2onnx, and whatever skl2onnx raises when it cannot
    express the model.
    """
    from skl2onnx import convert_sklearn  # type: ignore[import-untyped]

    options: dict[Any, Any] = {}
    if hasattr(model, "predict_proba"):
        options = {id(model): {"zipmap": False}}
        last = getattr(model, "steps", None)
        if last:  # a Pipeline: the option belongs to its final classifier
            options[id(last[-1][1])] = {"zipmap": False}
    with warnings.catch_warnings():
        # protobuf 6 warns about the booleans skl2onnx writes into integer attributes (the
        # onnx extra keeps protobuf below 7, which would refuse them).
        warnings.simplefilter("ignore", DeprecationWarning)
        opset = {"": 17, "ai.onnx.ml": 3}
        try:
            converted = convert_sklearn(
                model, initial_types=initial_types(frame), options=options, target_opset=opset
            )
            single = False
        except Exception:
            if not all(frame[c].dtype.kind in "iufb" for c in frame.columns):
                raise
            from skl2onnx.common.data_types import FloatTensorType  # type: ignore[import-untyped]

            matrix = [("X", FloatTensorType([None, frame.shape[1]]))]
            converted = convert_sklearn(
                model, initial_types=matrix, options=options, target_opset=opset
            )
            single = True
    return bytes(converted.SerializeToString()), single


def _run_child(script: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run ``script`` in a clean interpreter; its JSON line, or RuntimeError with its error."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(first_line(lines[-1] if lines else f"exit code {done.returncode}"))
    last = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(last[-1]) if last else {}


def _compare(expected: npt.NDArray[Any], got: npt.NDArray[Any]) -> tuple[float, int | None]:
    """The largest absolute difference and the row it is in (inf when shapes differ)."""
    if got.ndim == 1 and expected.ndim == 2 and expected.shape[1] == 1:
        got = got.reshape(-1, 1)
    if expected.ndim == 1 and got.ndim == 2 and got.shape[1] == 1:
        got = got.reshape(-1)
    if got.shape != expected.shape:
        return float("inf"), None
    diff = np.abs(got.astype(np.float64) - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    per_row = diff.reshape(len(diff), -1).max(axis=1) if len(diff) else diff
    if not len(per_row):
        return 0.0, None
    row = int(np.argmax(per_row))
    return float(per_row[row]), row


def _onnx_prediction(outputs: Any, proba: bool) -> npt.NDArray[Any]:
    """The ONNX output that matches the original's: probabilities, or the prediction."""
    names = list(outputs.files)
    name = names[0]
    if proba:
        name = "probabilities" if "probabilities" in names else names[-1]
    return np.asarray(outputs[name])


def check_onnx(
    onnx_bytes: bytes,
    single: bool,
    frame: pd.DataFrame,
    expected: npt.NDArray[Any],
    proba: bool,
    timeout_s: float,
) -> Export:
    """Run the ONNX model in a clean onnxruntime process and compare with ``expected``."""
    result = Export(route="onnx", rows=len(frame), size_bytes=len(onnx_bytes))
    with tempfile.TemporaryDirectory(prefix="prodready-q10-") as tmp:
        folder = Path(tmp)
        (folder / "model.onnx").write_bytes(onnx_bytes)
        arrays, _ = _arrays(frame)
        if single:  # one N x F matrix for a bare estimator
            arrays = {"X": frame.to_numpy(dtype=np.float32)}
        _savez(folder / "data.npz", arrays)
        started = time.perf_counter()
        try:
            info = _run_child(
                _ONNX_SCRIPT,
                [str(folder / "model.onnx"), str(folder / "data.npz"), str(folder / "out.npz")],
                timeout_s,
            )
        except RuntimeError as exc:
            result.problem = f"onnxruntime could not run the export: {exc}"
            result.check_s = time.perf_counter() - started
            return result
        result.check_s = time.perf_counter() - started
        with np.load(folder / "out.npz", allow_pickle=False) as outputs:
            got = _onnx_prediction(outputs, proba)
    result.max_diff, result.worst_row = _compare(expected, got)
    _clean(result, info, forbidden=("sklearn", "prodready", "skl2onnx", "pandas"))
    return result


def check_skops(
    model: Any, frame: pd.DataFrame, expected: npt.NDArray[Any], proba: bool, timeout_s: float
) -> Export:
    """Dump ``model`` with skops, load it in a clean process, compare with ``expected``."""
    import skops.io as sio

    result = Export(route="skops", rows=len(frame))
    with tempfile.TemporaryDirectory(prefix="prodready-q10-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        try:
            sio.dump(model, folder / "model.skops")
            # The file was written just now from the model assessed: its types are the
            # model's own, so the child may trust them (a user-supplied file would need review).
            trusted = sio.get_untrusted_types(file=folder / "model.skops")
        except Exception as exc:  # skops cannot express the model either
            result.route = "none"
            result.problem = f"skops cannot save the model: {first_line(str(exc))}"
            return result
        result.export_s = time.perf_counter() - started
        result.size_bytes = (folder / "model.skops").stat().st_size
        arrays, strings = _arrays(frame)
        _savez(folder / "data.npz", arrays)
        meta = {"trusted": trusted, "columns": list(arrays), "strings": strings, "proba": proba}
        started = time.perf_counter()
        try:
            info = _run_child(
                _SKOPS_SCRIPT,
                [
                    str(folder / "model.skops"),
                    str(folder / "data.npz"),
                    str(folder / "out.npz"),
                    json.dumps(meta),
                ],
                timeout_s,
            )
        except RuntimeError as exc:
            result.problem = f"the skops export does not load and run in a clean process: {exc}"
            result.check_s = time.perf_counter() - started
            return result
        result.check_s = time.perf_counter() - started
        with np.load(folder / "out.npz", allow_pickle=False) as outputs:
            got = np.asarray(outputs["prediction"])
    result.max_diff, result.worst_row = _compare(expected, got)
    _clean(result, info, forbidden=("prodready",))
    result.runtime = "skops (scikit-learn)"
    return result


def _clean(result: Export, info: dict[str, Any], forbidden: tuple[str, ...]) -> None:
    modules = set(info.get("modules", []))
    result.forbidden_modules = sorted(modules & set(forbidden))
    result.clean = not result.forbidden_modules
    result.runtime = str(info.get("runtime", result.runtime))


def export_and_check(
    model: Any,
    frame: pd.DataFrame,
    proba: bool,
    route: Literal["auto", "onnx", "skops"],
    timeout_s: float,
) -> Export:
    """Export ``model`` (ONNX first unless ``route`` says otherwise) and check the export.

    ``frame`` is the sample of the reference data (the model's input columns). A child
    that runs past ``timeout_s`` raises :class:`subprocess.TimeoutExpired` (prodready could
    not judge: an ERROR).
    """
    try:
        expected = original_predictions(model, frame, proba)
    except Exception as exc:  # the system failing on its own data, not prodready
        return Export(
            route="none",
            problem=f"the model itself fails on its reference data: {first_line(str(exc))}",
        )
    onnx_problem: str | None = None
    onnx_missing = False
    if route in ("auto", "onnx"):
        started = time.perf_counter()
        try:
            onnx_bytes, single = to_onnx_bytes(model, frame)
        except ImportError:
            onnx_missing = True
            onnx_problem = f"the onnx extra is not installed ({ONNX_HINT})"
        except Exception as exc:  # skl2onnx cannot express this model
            onnx_problem = f"skl2onnx cannot convert the model: {first_line(str(exc))}"
        else:
            export_s = time.perf_counter() - started
            result = check_onnx(onnx_bytes, single, frame, expected, proba, timeout_s)
            result.export_s = export_s
            return result
        if route == "onnx":
            return Export(
                route="none",
                onnx_problem=onnx_problem,
                onnx_missing=onnx_missing,
                problem=onnx_problem,
            )
    result = check_skops(model, frame, expected, proba, timeout_s)
    result.onnx_problem = onnx_problem
    result.onnx_missing = onnx_missing
    return result


def _savez(path: Path, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
    """``np.savez`` of named arrays (typed through Any: numpy 2.4's stubs read ``**arrays``
    as its ``allow_pickle`` flag)."""
    savez: Any = np.savez
    savez(path, **arrays)
