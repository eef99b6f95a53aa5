"""The in-process client: the system's model called directly, no server in between."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from prodready.adapters._base import Client, Reply, ReplyKind

__all__ = ["InProcessClient"]

_ERROR_CHARS = 500


def _is_input_rejected(exc: BaseException) -> bool:
    """True for the guard's ``InputRejected`` (or a subclass), without importing the guard.

    Matched by name and module so that this client needs nothing from
    :mod:`prodready.guard` unless the model is a guard, and works with any module layout
    inside that package.
    """
    return any(
        cls.__name__ == "InputRejected"
        and (cls.__module__ == "prodready.guard" or cls.__module__.startswith("prodready.guard."))
        for cls in type(exc).__mro__
    )


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


class InProcessClient(Client):
    """The loaded model (or a :class:`prodready.guard.Guard` around it), called in this process.

    ``predict(frame)`` passes the model a copy of the ``feature_columns`` of ``frame`` that
    are present, in that order (extra columns are dropped, as a served model's schema would;
    a missing one stays missing, so the model or the guard meets it). A classifier is asked
    for ``predict_proba`` (outputs ``(n, k)``), anything else for ``predict``.

    When the model has a ``decide(frame)`` method (a guard), that is called instead: its
    :class:`~prodready.guard.Decisions` give the outputs, decision ids and the safe-default
    mask, and its ``InputRejected`` is the kind ``rejected``. Any other exception is
    ``crashed``, with "TypeName: message" as the error.
    """

    protocol: ClassVar[str] = "in-process"

    def __init__(
        self,
        model: Any,
        feature_columns: Sequence[str] | None = None,
        *,
        is_classifier: bool = True,
    ) -> None:
        self.model = model
        self.feature_columns = None if feature_columns is None else list(feature_columns)
        self.is_classifier = is_classifier
        self._decide = getattr(model, "decide", None)
        if not callable(self._decide):
            self._decide = None
        self._method = (
            "predict_proba" if is_classifier and hasattr(model, "predict_proba") else "predict"
        )

    def describe(self) -> str:
        kind = "guarded model" if self._decide is not None else "model"
        return f"the {kind} in-process ({type(self.model).__name__}.{self._call_name})"

    @property
    def _call_name(self) -> str:
        return "decide" if self._decide is not None else self._method

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.feature_columns is None:
            return frame.copy()
        present = [c for c in self.feature_columns if c in frame.columns]
        return frame.loc[:, present].copy()

    def predict(self, frame: pd.DataFrame) -> Reply:
        """Call the model on ``frame``; every exception becomes a Reply."""
        start = time.perf_counter()
        try:
            features = self._features(frame)
            if self._decide is not None:
                return self._from_decisions(self._decide(features), len(frame), start)
            raw = getattr(self.model, self._method)(features)
            outputs = np.asarray(raw)
        except Exception as exc:  # the system's failure, reported, never raised
            kind: ReplyKind = "rejected" if _is_input_rejected(exc) else "crashed"
            return Reply(kind=kind, error=_error(exc), seconds=time.perf_counter() - start)
        return self._checked(outputs, None, None, len(frame), start)

    def _from_decisions(self, decisions: Any, n_rows: int, start: float) -> Reply:
        outputs = getattr(decisions, "outputs", None)
        if outputs is None:
            outputs = getattr(decisions, "predictions", None)
        ids = getattr(decisions, "decision_ids", None)
        mask = getattr(decisions, "safe_default", None)
        return self._checked(
            np.asarray(outputs),
            None if ids is None else tuple(None if i is None else str(i) for i in ids),
            None if mask is None else np.asarray(mask, dtype=bool),
            n_rows,
            start,
        )

    @staticmethod
    def _checked(
        outputs: np.ndarray[Any, Any],
        ids: tuple[str | None, ...] | None,
        mask: np.ndarray[Any, Any] | None,
        n_rows: int,
        start: float,
    ) -> Reply:
        seconds = time.perf_counter() - start
        if outputs.ndim == 0 or outputs.shape[0] != n_rows:
            shape = "a scalar" if outputs.ndim == 0 else f"{outputs.shape[0]} outputs"
            return Reply(kind="malformed", error=f"{shape} for {n_rows} rows", seconds=seconds)
        if (ids is not None and len(ids) != n_rows) or (mask is not None and len(mask) != n_rows):
            return Reply(
                kind="malformed",
                error=f"decision ids or safe-default marks do not match the {n_rows} rows",
                seconds=seconds,
            )
        return Reply(
            kind="answered", outputs=outputs, decision_ids=ids, safe_default=mask, seconds=seconds
        )
