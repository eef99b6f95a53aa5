"""Model performance for the monitoring probe: the main metric, its uncertainty, by segment.

A difference between two scores means little without its uncertainty: with 89 labelled rows
a ROC AUC moves by several points from one sample to the next. So the main metric comes with
a bootstrap confidence interval on each window, and a drop is judged against the interval of
the *drop* (both windows resampled independently), not as a bare difference. An average can
also hide a segment that collapsed: the metric is computed per segment too (each value of
each categorical feature with enough labelled rows in both windows).

The metrics are written in numpy (ROC AUC from ranks, macro F1 from a confusion matrix, R²)
so that a hundred resamples of 20,000 rows take a fraction of a second; each equals its
scikit-learn counterpart (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Interval", "bootstrap_drop", "main_metric", "metric_function", "segment_drops"]

#: Rows per window the bootstrap resamples (a larger window is subsampled first, which only
#: widens the interval: conservative).
BOOTSTRAP_ROWS = 20_000

Metric = Callable[[np.ndarray, np.ndarray], float]


def main_metric(task: str) -> str:
    """The metric monitoring judges: ROC AUC (binary), macro F1 (multi-class) or R²."""
    return {"binary": "roc_auc", "multiclass": "macro_f1"}.get(task, "r2")


def metric_function(task: str, positive: Any = None) -> Metric:
    """``f(y, output) -> score`` for the task's main metric (NaN when it is undefined).

    ``output`` is P(positive) for binary, the predicted class for multi-class, the predicted
    value for regression; ``positive`` is the positive class label for binary.
    """
    if task == "binary":
        return lambda y, out: _roc_auc(np.asarray(y == positive), out)
    if task == "multiclass":
        return _macro_f1
    return _r2


def _roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)  # ties get their average rank, as the Mann-Whitney U needs
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    if len(y) == 0:
        return float("nan")
    labels, codes = np.unique(np.concatenate([y, pred]).astype(str), return_inverse=True)
    k = len(labels)
    true, guess = codes[: len(y)], codes[len(y) :]
    matrix = np.bincount(true * k + guess, minlength=k * k).reshape(k, k)
    tp = np.diag(matrix).astype(float)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    # scikit-learn's macro F1 averages over the labels present in y or in the predictions,
    # with F1 = 0 where a label has no true and no predicted row (it never happens here).
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean())


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    if len(y) < 2:
        return float("nan")
    total = float(np.sum((y - y.mean()) ** 2))
    if total == 0:
        return float("nan")
    return 1.0 - float(np.sum((y - np.asarray(pred, dtype=float)) ** 2)) / total


@dataclass(frozen=True)
class Interval:
    """A bootstrap confidence interval: ``low`` and ``high`` at ``level`` (e.g. 0.95)."""

    low: float
    high: float
    level: float

    def to_json(self) -> list[float]:
        return [self.low, self.high]


def bootstrap_drop(
    metric: Metric,
    ref: tuple[np.ndarray, np.ndarray],
    cur: tuple[np.ndarray, np.ndarray],
    *,
    resamples: int,
    level: float,
    seed: int,
) -> tuple[Interval, Interval, Interval]:
    """Bootstrap intervals of the metric on each window and of the drop (reference - current).

    Each window is resampled independently (after subsampling to :data:`BOOTSTRAP_ROWS`);
    resamples where the metric is undefined (one class only) are left out.
    """
    rng = np.random.default_rng(seed)
    draws = []
    for y, out in (ref, cur):
        if len(y) > BOOTSTRAP_ROWS:
            keep = rng.choice(len(y), size=BOOTSTRAP_ROWS, replace=False)
            y, out = y[keep], out[keep]
        values = np.empty(resamples)
        for b in range(resamples):
            pick = rng.integers(0, len(y), size=len(y))
            values[b] = metric(y[pick], out[pick])
        draws.append(values)
    ref_b, cur_b = draws
    tail = (1 - level) / 2 * 100

    def interval(values: np.ndarray) -> Interval:
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return Interval(float("nan"), float("nan"), level)
        low, high = np.percentile(values, [tail, 100 - tail])
        return Interval(float(low), float(high), level)

    return interval(ref_b), interval(cur_b), interval(ref_b - cur_b)


def segment_drops(
    metric: Metric,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    columns: list[str],
    *,
    min_rows: int,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The metric per segment (each value of each column in ``columns``) on both windows.

    ``ref`` and ``cur`` hold the segment columns plus ``"_y"`` (the label) and ``"_out"`` (the
    model's output) for labelled, scored rows. Segments with fewer than ``min_rows`` rows in
    either window, or an undefined metric, are left out; at most ``limit`` segments are
    computed (the largest first), so the cost stays bounded in the number of categories.
    Sorted by drop, largest first.
    """
    found: list[dict[str, Any]] = []
    for column in columns:
        ref_counts = ref[column].value_counts()
        cur_counts = cur[column].value_counts()
        both = ref_counts.index.intersection(cur_counts.index)
        large = [v for v in both if ref_counts[v] >= min_rows and cur_counts[v] >= min_rows]
        large.sort(key=lambda v: -int(cur_counts[v]))
        for value in large[: max(0, limit - len(found))]:
            r, c = ref[ref[column] == value], cur[cur[column] == value]
            before = metric(r["_y"].to_numpy(), r["_out"].to_numpy())
            after = metric(c["_y"].to_numpy(), c["_out"].to_numpy())
            if np.isfinite(before) and np.isfinite(after):
                found.append(
                    {
                        "feature": str(column),
                        "value": str(value),
                        "reference": before,
                        "current": after,
                        "drop": before - after,
                        "rows": {"reference": len(r), "current": len(c)},
                    }
                )
    return sorted(found, key=lambda s: -s["drop"])
