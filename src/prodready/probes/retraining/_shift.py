"""The degradation the rehearsal simulates: a concept shift in one region of the feature space.

Generic for any tabular model and task, deterministic for a seed. From the labelled reference
data (a sample of it: :class:`Windows`):

1. The model's most important feature is found by permutation (the metric's drop when the
   column is shuffled, on a few thousand rows).
2. The *region* is one half of the rows by that feature: above or below its median for a
   number, among its most frequent categories (about half of the rows) or not for a
   category; of the two halves, the one where the shift hurts the model most (inverting
   the labels where the model already predicts the positive class often hardly hurts a
   ranking metric).
3. In the region the relationship between features and target changes (:func:`shift_target`):
   a classifier's labels move to the next class (binary: inverted), a regression target is
   mirrored around its mean. Outside the region nothing changes, so the old data there is
   still valid: the new model must not get worse on it.

The sample is split in three disjoint parts: an *old* window (the concept as it was: the
trigger must not fire on it, and the new model must not regress on its rows outside the
region), a *shifted* window (the trigger must fire on it, and the new model must recover on
it: the new model never sees it), and the shifted *training* data handed to the retrain hook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["Region", "Windows", "find_region", "shift_target", "split_windows"]

#: Rows the permutation importance is measured on (a few model calls of this size).
IMPORTANCE_ROWS = 2000
#: Smallest shifted and old windows worth judging a metric on.
MIN_WINDOW = 25


@dataclass(frozen=True)
class Windows:
    """The labelled sample, split: ``old`` and ``shifted`` windows of ``window`` rows each,
    and the ``training`` rows; all three still have the old concept (see :func:`shift_target`).
    ``available`` is how many labelled reference rows there were."""

    old: pd.DataFrame
    shifted: pd.DataFrame
    training: pd.DataFrame
    available: int


def split_windows(
    labelled: pd.DataFrame, window: int, training_rows: int, seed: int
) -> Windows | None:
    """Shuffle ``labelled`` with ``seed`` and split it; None when it is too small to judge.

    Windows shrink to a quarter of the rows each when the data are small, leaving at least
    half for training.
    """
    n = len(labelled)
    size = min(window, n // 4)
    if size < MIN_WINDOW:
        return None
    order = np.random.default_rng([seed, 9]).permutation(n)
    rows = labelled.iloc[order].reset_index(drop=True)
    train = min(training_rows, n - 2 * size)
    return Windows(
        old=rows.iloc[:size].reset_index(drop=True),
        shifted=rows.iloc[size : 2 * size].reset_index(drop=True),
        training=rows.iloc[2 * size : 2 * size + train].reset_index(drop=True),
        available=n,
    )


@dataclass(frozen=True)
class Region:
    """Where the concept changes: rows whose ``feature`` is high, or (``low``) the others.

    ``cut`` is the number above which a numeric feature is high (``inclusive``: at or
    above it), or ``categories`` the values that are (the most frequent); ``importance`` is
    the metric's drop when the feature is shuffled. Missing values are in neither half.
    """

    feature: str
    importance: float
    cut: float | None = None
    inclusive: bool = False
    categories: tuple[Any, ...] = ()
    low: bool = False

    @property
    def description(self) -> str:
        """The region in words, e.g. "interest_rate >= 11.65"."""
        if self.cut is None:
            shown = ", ".join(str(c) for c in self.categories[:5])
            shown += " ..." if len(self.categories) > 5 else ""
            return f"{self.feature} {'not in' if self.low else 'in'} {{{shown}}}"
        sign = {(False, False): ">", (True, False): ">=", (False, True): "<=", (True, True): "<"}
        return f"{self.feature} {sign[(self.inclusive, self.low)]} {self.cut:.4g}"

    def other_half(self) -> Region:
        """The rest of the rows (with a value): the low half for the high one, and back."""
        return replace(self, low=not self.low)

    def mask(self, frame: pd.DataFrame) -> npt.NDArray[Any]:
        """Which rows of ``frame`` are in the region (missing values are not)."""
        column = frame[self.feature]
        if self.cut is None:
            high = column.isin(list(self.categories)).to_numpy(dtype=bool)
            present = column.notna().to_numpy(dtype=bool)
        else:
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
            present = np.isfinite(values)
            with np.errstate(invalid="ignore"):
                high = values >= self.cut if self.inclusive else values > self.cut
        found: npt.NDArray[Any] = present & (~high if self.low else high)
        return found


def find_region(
    frame: pd.DataFrame,
    features: list[str],
    categorical: list[str],
    score: Callable[[pd.DataFrame], float],
    seed: int,
) -> Region | None:
    """The region of the most important feature that splits ``frame`` about in half.

    ``score(rows)`` is the serving model's metric on labelled rows (NaN when it cannot say).
    Features are ranked by permutation importance on at most :data:`IMPORTANCE_ROWS` rows;
    the first one whose high half is neither empty nor everything gives the region. None when
    no feature splits the data (every feature constant).
    """
    rng = np.random.default_rng([seed, 10])
    sample = frame.iloc[: min(len(frame), IMPORTANCE_ROWS)].reset_index(drop=True)
    base = score(sample)
    importance: dict[str, float] = {}
    for feature in features:
        shuffled = sample.copy()
        shuffled[feature] = sample[feature].to_numpy()[rng.permutation(len(sample))]
        drop = base - score(shuffled)
        importance[feature] = float(drop) if np.isfinite(drop) else -np.inf
    # Ties (e.g. a model that ignores every feature) keep the column order: deterministic.
    ranked = sorted(features, key=lambda f: -importance[f])
    for feature in ranked:
        region = _high_half(frame, feature, feature in categorical, importance[feature])
        if region is not None:
            return region
    return None


def _high_half(
    frame: pd.DataFrame, feature: str, is_category: bool, importance: float
) -> Region | None:
    column = frame[feature].dropna()
    if len(column) == 0:
        return None
    if is_category or not pd.api.types.is_numeric_dtype(column):
        counts = column.value_counts()
        if len(counts) < 2:
            return None
        shares = (counts.cumsum() / counts.sum()).to_numpy()
        # The most frequent categories until half of the rows, never all of them.
        take = min(int(np.searchsorted(shares, 0.5)) + 1, len(counts) - 1)
        return Region(feature, importance, categories=tuple(counts.index[:take]))
    values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float)
    if len(values) == 0 or values.min() == values.max():
        return None
    cut = float(np.median(values))
    above, at_or_above = float(np.mean(values > cut)), float(np.mean(values >= cut))
    # A count feature has many ties at its median: take the split closer to half.
    inclusive = abs(at_or_above - 0.5) < abs(above - 0.5) and at_or_above < 1
    if not inclusive and above == 0:
        return None
    return Region(feature, importance, cut=cut, inclusive=inclusive)


def shift_target(
    y: pd.Series, inside: npt.NDArray[Any], task: str, classes: list[Any], mean: float
) -> pd.Series:
    """The target after the concept shift: changed inside the region, as it was elsewhere.

    Classification: each label becomes the next class in ``classes`` (binary: inverted);
    regression: the value is mirrored around ``mean`` (the reference's mean target), so a
    high value becomes as low as it was high.
    """
    shifted = y.copy()
    if task == "regression":
        values = y.to_numpy(dtype=float)
        shifted = pd.Series(np.where(inside, 2 * mean - values, values), index=y.index, name=y.name)
        return shifted
    following = {c: classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
    moved = y[inside].map(following)
    shifted.loc[inside] = moved.to_numpy()
    return shifted
