"""What the system did with each case of the battery, and the judgement of the battery.

Every reply is classified (:func:`classify`) into one :data:`Outcome`:

- ``clean rejection``: the system refused a nonsense (or "either") input with an error of its
  own: an HTTP 4xx, or in-process a :class:`prodready.guard.InputRejected`;
- ``safe default``: it answered, and declared every nonsense row a safe default;
- ``crash``: an exception from the model, an HTTP 5xx, a dropped connection, a time-out, a
  success status with no usable answer, NaN or infinity for valid rows, or a 4xx that only
  passes on an exception the model raised (MLflow's scoring server answers 400 "unexpected
  error while evaluating the model" with the traceback for any exception in ``predict``:
  that is the model crashing, not the system refusing the input);
- ``silent garbage``: a normal answer to nonsense (a row not declared a safe default);
- ``fine``: a valid edge case answered, or an "either" case answered or refused;
- ``valid input rejected``: a valid edge case refused (reordered columns, one row...): the
  system turns good requests away, a WARN.

PASS needs no crash and no silent garbage (:func:`battery_checks`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from prodready.adapters._base import Reply
from prodready.probes.graceful_failure._battery import Case
from prodready.results import Check, Status

__all__ = ["OUTCOMES", "Outcome", "Result", "battery_checks", "classify"]

Outcome = Literal[
    "clean rejection", "safe default", "crash", "silent garbage", "fine", "valid input rejected"
]
#: The outcomes, in the order a report counts them.
OUTCOMES: tuple[Outcome, ...] = (
    "crash",
    "silent garbage",
    "valid input rejected",
    "clean rejection",
    "safe default",
    "fine",
)
#: The system's own error text kept per case (the report shows it; a body may be megabytes).
ERROR_CHARS = 300
#: Signs, in a 4xx answer, that the model raised and the server merely passed it on:
#: MLflow's scoring server wraps any exception of ``predict`` in this message (HTTP 400),
#: and a server that sends its traceback has crashed, whatever its status says.
_MODEL_RAISED = (
    "unexpected error while evaluating the model",
    "traceback (most recent call last)",
)


@dataclass(frozen=True)
class Result:
    """One case and what the system did with it.

    ``reply_kind`` and ``status`` are the reply's (see :class:`prodready.adapters.Reply`);
    ``error`` the system's own error text, at most :data:`ERROR_CHARS` characters; ``note``
    why the case got its ``outcome``, in words.
    """

    case: Case
    outcome: Outcome
    reply_kind: str
    status: int | None
    error: str
    note: str


def classify(case: Case, reply: Reply) -> Result:
    """The outcome of ``case`` given the system's ``reply`` (see the module's rules)."""
    outcome, note = _outcome(case, reply)
    error = reply.error if len(reply.error) <= ERROR_CHARS else reply.error[: ERROR_CHARS - 1] + "…"
    return Result(case, outcome, reply.kind, reply.status, error, note)


def _outcome(case: Case, reply: Reply) -> tuple[Outcome, str]:
    status = f" (HTTP {reply.status})" if reply.status is not None else ""
    if reply.kind == "crashed":
        if reply.status is None:
            return "crash", "the model raised"
        if 400 <= reply.status < 500:  # MLflow's 400 for an exception of the model
            return "crash", f"the model raised; the server passed it on as a refusal{status}"
        return "crash", f"the server failed{status}"
    if reply.kind == "dropped":
        return "crash", "the connection was dropped before an answer"
    if reply.kind == "timeout":
        return "crash", "no answer within the time limit"
    if reply.kind == "malformed":
        return "crash", f"a success status{status} without a usable answer"
    if reply.kind == "rejected":
        if any(sign in reply.error.lower() for sign in _MODEL_RAISED):
            return "crash", f"the model raised; the server passed it on as a refusal{status}"
        if case.expect == "valid":
            return "valid input rejected", f"a valid request refused{status}"
        return ("clean rejection" if case.expect == "nonsense" else "fine"), f"refused{status}"
    # Answered.
    rows = _rows(case, reply)
    if case.expect == "nonsense":
        flagged = reply.safe_default
        # At least one row: an empty answer to nonsense declares nothing.
        if flagged is not None and rows is not None and len(rows) and bool(flagged[rows].all()):
            return "safe default", "answered with a declared safe default"
        if rows is not None and not _usable(reply, rows):
            return "silent garbage", "answered NaN or infinity, without an error"
        return "silent garbage", "answered as if the input were valid"
    if rows is not None and not _usable(reply, rows):
        return "crash", "answered NaN or infinity for valid rows"
    return "fine", "answered"


def _rows(case: Case, reply: Reply) -> np.ndarray[Any, Any] | None:
    """Positions of the rows the case is about in the reply (None: not known row by row)."""
    n = None if reply.outputs is None else len(reply.outputs)
    if n is None and reply.safe_default is not None:
        n = len(reply.safe_default)
    if n is None:
        return None
    if case.nonsense_rows and case.expect == "nonsense":
        wanted = np.asarray([r for r in case.nonsense_rows if r < n], dtype=int)
        return wanted if len(wanted) else None
    return np.arange(n)


def _usable(reply: Reply, rows: np.ndarray[Any, Any]) -> bool:
    """False when a numeric answer holds NaN or an infinity for one of ``rows``."""
    if reply.outputs is None or not len(rows):
        return True
    out = np.asarray(reply.outputs)
    if out.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(out[rows]).all())


def counts(results: list[Result]) -> dict[str, int]:
    """How many cases got each outcome (every outcome listed, in :data:`OUTCOMES` order)."""
    found = Counter(r.outcome for r in results)
    return {o: found.get(o, 0) for o in OUTCOMES}


#: Cases named at most in a check's message (the summary names fewer).
_NAMED = 40


def names(results: list[Result], limit: int = _NAMED) -> str:
    """The names of the cases, the first ``limit`` and how many more."""
    shown = ", ".join(r.case.name for r in results[:limit])
    more = len(results) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def battery_checks(results: list[Result]) -> list[Check]:
    """Crashes and silent garbage FAIL; refused valid edge cases WARN."""
    total = len(results)
    crashes = [r for r in results if r.outcome == "crash"]
    garbage = [r for r in results if r.outcome == "silent garbage"]
    refused = [r for r in results if r.outcome == "valid input rejected"]
    nonsense = sum(1 for r in results if r.case.expect == "nonsense")
    valid = sum(1 for r in results if r.case.expect == "valid")
    return [
        Check(
            name="no crash on unexpected input",
            status=Status.FAIL if crashes else Status.PASS,
            measured=len(crashes),
            threshold="no case crashes (exception, 5xx, dropped connection, time-out)",
            message=f"Crashed on {len(crashes)} of {total} cases: {names(crashes)}."
            if crashes
            else f"No crash on any of the {total} cases.",
        ),
        Check(
            name="no silent garbage",
            status=Status.FAIL if garbage else Status.PASS,
            measured=len(garbage),
            threshold="every nonsense input refused or answered with a declared safe default",
            message=f"Answered {len(garbage)} of {nonsense} nonsense inputs as if valid: "
            f"{names(garbage)}."
            if garbage
            else f"Every nonsense input was refused or answered with a declared safe default "
            f"({nonsense} cases).",
        ),
        Check(
            name="valid edge cases answered",
            status=Status.WARN if refused else Status.PASS,
            measured=len(refused),
            threshold="valid edge cases (one row, a large batch, extra or reordered "
            "columns) answered",
            message=f"Refused {len(refused)} of {valid} valid requests: {names(refused)}."
            if refused
            else f"Every valid edge case was answered ({valid} cases).",
        ),
    ]
