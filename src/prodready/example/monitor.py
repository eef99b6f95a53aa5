"""The bundled example's own drift monitor, named in its spec as ``hooks.monitor``.

This is what a team that monitors its model in production would plug in: a function that its
serving code calls with each batch of decisions and that answers, per decision, whether to
raise an alarm (the contract is in :mod:`prodready.online`). The example team's monitor is
prodready's own scipy online detector, built once on a sample of the population the model was
trained for (regenerated from the documented generator, so it needs no file), calibrated to
one false alarm per 1,000 decisions on average, over a window of the last 100 decisions.

prodready's Q3 rehearsal then tests *this* monitor: does it catch the shift seen in the
current window, how fast, and how often does it raise an alarm when nothing shifted?
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["monitor"]

#: How the example team configured its monitor.
REFERENCE_ROWS = 5000
ERT = 1000
WINDOW = 100

_detector: list[Any] = []  # built on the first call, then kept: the monitor has state


def monitor(batch: pd.DataFrame) -> list[bool]:
    """One alarm flag per decision of ``batch`` (the model's input columns, in stream order)."""
    detector = _built()
    statistics = detector.update(batch[list(detector.features)])
    # NaN while the window fills: no judgement, so no alarm.
    return [bool(s > detector.threshold) for s in statistics]


def _reset() -> None:
    """Start afresh (a new stream): called by the rehearsal before each run."""
    if _detector:
        _detector[0].reset()


monitor.reset = _reset  # type: ignore[attr-defined]


def _built() -> Any:
    if not _detector:
        from prodready.example.data import CATEGORICAL, FEATURES, generate_applicants
        from prodready.online import ScipyOnlineEngine

        # Its own sample of the training-time population (a seed of its own, not the
        # reference window prodready compares with).
        reference = generate_applicants(REFERENCE_ROWS, seed=20, window="reference")[FEATURES]
        _detector.append(
            ScipyOnlineEngine().build(
                reference, categorical=CATEGORICAL, ert=ERT, window=WINDOW, seed=0
            )
        )
    return _detector[0]
