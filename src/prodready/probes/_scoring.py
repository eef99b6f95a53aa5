"""Scoring rows with the system's model, keeping what the model could not score.

A model that raises on its own production data, or answers NaN, is the *system* failing: a
probe must not crash with it (that would be an ERROR, "prodready could not judge"), nor drop
what it already measured. :func:`score_model` calls the model, catches what it raises, finds
which rows it could not score and why, and returns the outputs of all the others, so that
the probe can FAIL with "the model raised on 1,204 of 5,000 current rows: missing value in
income" and keep every other result.

Finding the failing rows costs few model calls: the whole batch first (the common case: one
call); on failure, rows are grouped by which features are missing (the usual cause), each
group is tried whole, and a failing group whose first and last rows also fail alone is
attributed to its missing values; anything else is bisected, within a budget of calls, after
a check that spares the budget for a model failing on everything (a chunk whose rows, tried
one by one at 20 points spread over it, all fail the same way fails as a whole). When
the budget runs out the remaining rows are counted as failed and the count is marked as
"at most" (``exact`` is False).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodready.probes._base import ProbeContext

__all__ = ["Failure", "Method", "Scoring", "score_model"]

Method = Literal["predict", "predict_proba"]

#: Model calls spent at most on bisecting failing rows (about 2 f log2(n / f) for f of n rows;
#: a single-row call costs about a millisecond, so this bounds the search to a few seconds).
MAX_CALLS = 1000
#: Single rows, spread over a failing chunk, tried before bisecting it.
_SPREAD = 20
#: Distinct missing-value patterns tried as groups; rarer patterns are bisected.
_MAX_PATTERNS = 20


@dataclass
class Failure:
    """Rows the model could not score for one reason.

    ``rows`` is how many; ``example`` the position (0-based, in the scored frame) of one of
    them; ``cause`` a plain statement of the cause when it is known ("missing value in
    income", "non-finite output"), else None; ``error`` what the model raised
    ("ValueError: Input X contains NaN"), for the details of a report, never its summary.
    """

    rows: int
    example: int
    cause: str | None
    error: str


@dataclass
class Scoring:
    """The model's outputs on a frame's rows, and the rows it could not score.

    ``outputs`` holds the outputs of the scored rows only, in their order (``scored`` is the
    boolean mask of those rows over the frame); ``failures`` groups the others by reason.
    ``exact`` is False when locating failing rows ran out of its call budget: then the
    number of failed rows is an upper bound.
    """

    method: str
    n_rows: int
    outputs: np.ndarray
    scored: np.ndarray
    failures: list[Failure] = field(default_factory=list)
    exact: bool = True

    @property
    def n_failed(self) -> int:
        """Rows the model did not score (raised, or answered NaN / infinity)."""
        return self.n_rows - int(self.scored.sum())

    @property
    def ok(self) -> bool:
        """True when every row was scored."""
        return self.n_failed == 0

    def describe(self, which: str) -> str:
        """One plain sentence, e.g. "the model raised on 1,204 of 5,000 current rows: ..."."""
        if self.ok:
            return f"the model scored all {self.n_rows:,} {which} rows"
        causes = sorted({f.cause for f in self.failures if f.cause})
        raised = any(f.cause not in (_NON_FINITE, _NOT_PROBABILITIES) for f in self.failures)
        verb = "raised on" if raised else "gave no usable output for"
        bound = "" if self.exact else "up to "
        text = f"the model {verb} {bound}{self.n_failed:,} of {self.n_rows:,} {which} rows"
        if causes:
            shown = "; ".join(causes[:3]) + (
                f" and {len(causes) - 3} more" if len(causes) > 3 else ""
            )
            return f"{text}: {shown}"
        # What the model raised is a library's message: it goes in the details, not here.
        return f"{text} (what it raised is in the details)"

    def table_rows(self) -> list[list[Any]]:
        """Evidence rows: cause, rows, an example row (1-based), what the model raised."""
        return [
            [f.cause or "(not identified)", f.rows, f.example + 1, f.error]
            for f in sorted(self.failures, key=lambda f: -f.rows)
        ]


_NON_FINITE = "non-finite output (NaN or infinity)"
_NOT_PROBABILITIES = "probabilities outside [0, 1] or not summing to 1"
#: Slack for probabilities computed in float32 (or summed from many trees).
_PROBABILITY_TOLERANCE = 1e-4
_UNLOCATED = "not located row by row (call budget spent)"


def score_model(
    model: Any,
    X: pd.DataFrame,
    method: Method = "predict",
    *,
    context: ProbeContext | None = None,
    max_calls: int = MAX_CALLS,
) -> Scoring:
    """Score the rows of ``X`` with ``model.<method>``, catching what the model raises.

    Never raises for the model's own failures (exceptions, a wrong number of outputs, NaN or
    infinite numeric outputs, and for ``predict_proba`` rows that are not probabilities: a
    value outside [0, 1] or a row not summing to 1): those rows are reported in
    :attr:`Scoring.failures`. It does
    raise :class:`~prodready.probes.ProbeCancelled` when ``context`` is cancelled, and
    re-raises ``KeyboardInterrupt``. ``X`` is not modified (the model gets copies of slices).
    """
    fn: Callable[[pd.DataFrame], Any] = getattr(model, method)
    n = len(X)
    locator = _Locator(fn, X, context, max_calls, probabilities=method == "predict_proba")
    everything = np.arange(n)
    first = locator.attempt(everything)
    if isinstance(first, BaseException):
        locator.locate(everything)
    else:
        locator.store(everything, first)
    return locator.result(method)


class _Locator:
    """Finds which rows a model fails on, with a bounded number of calls."""

    def __init__(
        self,
        fn: Callable[[pd.DataFrame], Any],
        X: pd.DataFrame,
        context: ProbeContext | None,
        max_calls: int,
        *,
        probabilities: bool,
    ) -> None:
        self.fn, self.X, self.context, self.budget = fn, X, context, max_calls
        # Probabilities must be in [0, 1] and sum to 1 per row, or they are no answer.
        self.probabilities = probabilities
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self.failed: dict[tuple[str | None, str], list[int]] = {}
        self.exact = True

    def attempt(self, positions: np.ndarray) -> Any:
        """The model's outputs for these rows, or the exception it raised."""
        if self.context is not None:
            self.context.check_deadline()
        try:
            # A copy: a model that writes into its input must not reach the system's data.
            out = np.asarray(self.fn(self.X.iloc[positions].copy()))
        except Exception as exc:
            return exc
        if out.ndim == 0 or len(out) != len(positions):
            return ValueError(f"the model returned {out.shape} outputs for {len(positions)} rows")
        return out

    def store(self, positions: np.ndarray, out: np.ndarray) -> None:
        finite = _finite_rows(out)
        valid = finite & _probability_rows(out) if self.probabilities else finite
        self.chunks.append((positions[valid], out[valid]))
        bad = positions[~finite]
        if len(bad):
            self._fail([int(p) for p in bad], _NON_FINITE, "the model returned NaN or infinity")
        wrong = positions[finite & ~valid]
        if len(wrong):
            example = out[finite & ~valid][0]
            self._fail(
                [int(p) for p in wrong],
                _NOT_PROBABILITIES,
                f"the model returned {_short(example)} as probabilities",
            )

    def _fail(self, positions: list[int], cause: str | None, error: str) -> None:
        self.failed.setdefault((cause, error), []).extend(positions)

    def locate(self, positions: np.ndarray) -> None:
        """Score what can be scored among ``positions``, grouping rows by missing features."""
        missing = self.X.iloc[positions].isna().to_numpy()
        names = [str(c) for c in self.X.columns]
        patterns: dict[tuple[int, ...], list[int]] = {}
        for i, row in enumerate(missing):
            patterns.setdefault(tuple(np.flatnonzero(row)), []).append(int(positions[i]))
        ranked = sorted(patterns.items(), key=lambda item: -len(item[1]))
        rest: list[int] = []
        for rank, (pattern, rows) in enumerate(ranked):
            if not pattern or rank >= _MAX_PATTERNS:
                rest.extend(rows)
                continue
            cause = "missing value in " + ", ".join(names[j] for j in pattern)
            self._group(np.asarray(rows), cause)
        if rest:
            self._bisect(np.asarray(sorted(rest)))

    def _group(self, rows: np.ndarray, cause: str) -> None:
        out = self.attempt(rows)
        if not isinstance(out, BaseException):
            self.store(rows, out)
            return
        ends = [rows[:1], rows[-1:]]
        alone = [self.attempt(end) for end in ends]
        if all(isinstance(a, type(out)) for a in alone):
            # The rows share their missing values and fail like it: that is the cause.
            self._fail([int(r) for r in rows], cause, _error_text(out))
            return
        self._bisect(rows)

    def _bisect(self, rows: np.ndarray) -> None:
        out = self.attempt(rows)
        if not isinstance(out, BaseException):
            self.store(rows, out)
            return
        # A model that fails on everything would spend the whole budget on halves: if rows
        # spread over the chunk each fail alone the same way, the chunk fails as a whole.
        spread = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), _SPREAD)).astype(int))
        if len(rows) > _SPREAD and all(
            isinstance(self.attempt(rows[i : i + 1]), type(out)) for i in spread
        ):
            self._fail([int(r) for r in rows], None, _error_text(out))
            return
        stack = [rows[len(rows) // 2 :], rows[: len(rows) // 2]]
        while stack:
            part = stack.pop()
            if self.budget <= 0:
                self.exact = False
                self._fail([int(r) for r in part], None, _UNLOCATED)
                continue
            self.budget -= 1
            out = self.attempt(part)
            if not isinstance(out, BaseException):
                self.store(part, out)
            elif len(part) == 1:
                self._fail([int(part[0])], None, _error_text(out))
            else:
                half = len(part) // 2
                stack += [part[half:], part[:half]]

    def result(self, method: str) -> Scoring:
        scored = np.zeros(len(self.X), dtype=bool)
        if self.chunks:
            positions = np.concatenate([p for p, _ in self.chunks])
            outputs = np.concatenate([o for _, o in self.chunks])
            order = np.argsort(positions, kind="stable")
            outputs = outputs[order]
            scored[positions] = True
        else:
            outputs = np.empty((0,))
        failures = [
            Failure(rows=len(rows), example=min(rows), cause=cause, error=error)
            for (cause, error), rows in self.failed.items()
        ]
        return Scoring(method, len(self.X), outputs, scored, failures, self.exact)


def _finite_rows(out: np.ndarray) -> np.ndarray:
    """Per row: all outputs finite (non-numeric outputs, e.g. class labels, always are)."""
    if out.dtype.kind not in "fc":
        return np.ones(len(out), dtype=bool)
    finite: np.ndarray = np.isfinite(out).reshape(len(out), -1).all(axis=1)
    return finite


def _probability_rows(out: np.ndarray) -> np.ndarray:
    """Per row: a probability vector (each in [0, 1], summing to 1 within the tolerance)."""
    if out.dtype.kind not in "fiu":
        return np.zeros(len(out), dtype=bool)
    matrix = out.reshape(len(out), -1).astype(np.float64)
    tol = _PROBABILITY_TOLERANCE
    in_range = ((matrix >= -tol) & (matrix <= 1 + tol)).all(axis=1)
    sums: np.ndarray = np.abs(matrix.sum(axis=1) - 1.0) <= tol * max(1, matrix.shape[1])
    return in_range & sums


def _short(value: Any, limit: int = 80) -> str:
    text = np.array2string(np.asarray(value), precision=4, threshold=6)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _upper_first(text: str) -> str:
    """``text`` with its first letter upper-case (``str.capitalize`` lowers all the rest):
    :meth:`Scoring.describe` gives a clause, a summary starts a sentence with it."""
    return text[:1].upper() + text[1:]


def _error_text(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 200 characters."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")
    return text if len(text) <= 200 else text[:199] + "…"
