"""Online drift detection: would a monitor catch a shift, how fast, and how often would it cry wolf?

A snapshot drift test (:mod:`prodready.drift`) compares two finished windows of data. A monitor
in production sees one decision at a time and must say *when* to raise an alarm. This module
gives such monitors (online detectors) and a **rehearsal** that measures them: stream rows
that did not shift into a monitor, switch to rows that did, and count the decisions until it
alarms (detection delay) and the alarms it raised before the switch (false alarms).

Detectors (:class:`OnlineDetector`)
-----------------------------------
A detector is fed one decision (row) at a time or a batch of them (:meth:`~OnlineDetector.update`)
and returns its statistic after each row; it alarms on a row whose statistic is above its
:attr:`~OnlineDetector.threshold`. The statistic is NaN while the detector cannot judge yet
(its window is filling). After an alarm the detector **restarts**: its window empties and
refills from the next row, as a monitor does once an operator has acknowledged the alarm. So
an alarm is raised once, not on every following decision, and false alarms are events that
can be counted.

Calibration is to an **expected run time** (ERT): the mean number of decisions from a (re)start
to a false alarm when nothing shifted, the refilling of the window included. A detector
calibrated to an ERT of 1,000 raises about one false alarm per 1,000 decisions of unshifted
data; the window sets how much evidence each judgement weighs (small: fast on large shifts;
large: sees small ones).

Engines (:class:`OnlineEngine`), picked by name with :func:`get_online_engine`:

* ``"scipy"`` (:class:`ScipyOnlineEngine`, always available). Each feature's values are put in
  bins fixed from the reference: numbers in bins between reference quantiles (``bins`` of them,
  fewer for discrete values) plus a bin for missing values; categories (the ``max_categories``
  most frequent) plus a bin for all others (rare or never seen) and one for missing values.
  After each row, the shares of the last ``window`` rows in the bins are compared with the
  reference's:

  - numbers: a binned Anderson-Darling distance, ``sum_j (C_win(j) - C_ref(j))² / v_j`` over
    the cumulative shares C at the bin edges (so it sees shifts of location and spread);
  - categories: a chi-square distance, ``sum_k (p_win(k) - p_ref(k))² / v_k`` over the bins;

  with ``v = max(s (1 - s), 1 / window)`` for a reference share s (the floor keeps one row in a
  bin the reference never saw from counting as a shift on its own).

  *Calibration by simulation.* Streams of decisions that did not shift are simulated by a
  double bootstrap of the reference rows (each stream draws its rows from its own bootstrap
  resample of the reference, so that the simulated data differ from the reference as much as
  fresh data from the same population would), and every feature's distance is computed over
  them. Features are combined by per-feature thresholds at a *common* level: each feature's
  distance is divided by its own (1 - 1/ERT) quantile over the simulated streams, and the
  detector's statistic is the largest of these ratios, so that every feature gets about the
  same share of the false alarms and features on different scales compare. A single factor
  ``scale`` is then chosen on the simulated streams, alarms and restarts included, so that
  the false alarms per decision are at most 1/ERT (the smallest such factor). Because whole
  rows are resampled, correlated features are accounted for (a Bonferroni split at
  ERT x n_features per feature would assume them independent and alarm too rarely). Feature
  f alarms when its distance exceeds ``scale x quantile_f``, its threshold in the configuration;
  the detector's statistic is ``max_f distance_f / threshold_f`` and its threshold 1.
  The configuration (:meth:`ScipyOnlineDetector.config`) holds the bins, reference shares and
  thresholds: :meth:`ScipyOnlineDetector.from_config` rebuilds the same detector, ready to use.

* ``"alibi"`` (:class:`AlibiOnlineEngine`, the optional ``alibi`` extra): alibi-detect's
  ``CVMDriftOnline`` (Cramér-von Mises) for numbers and ``FETDriftOnline`` (Fisher's exact test)
  for binary features, each calibrated by alibi-detect's own simulation. alibi-detect is
  licensed under the Business Source License 1.1: production use needs a commercial licence
  from Seldon. See the class for how features are encoded and what the calibration costs.

The monitor hook
----------------
A system with its own monitor names it in its spec (``hooks.monitor: module:function``);
:class:`HookMonitor` lets the same rehearsal test it. The hook's contract:

* it is called with consecutive batches of decisions, in stream order, each a
  :class:`pandas.DataFrame` of the model's input columns (a fresh frame, index 0..n-1);
* it returns either one alarm flag per row (a list, tuple, numpy array or pandas Series of
  booleans or 0/1 of the batch's length), or a single boolean for the whole batch (then the
  alarm counts on the batch's last row);
* its state between calls is its own: the rehearsal does not restart it after an alarm. If
  the function has a callable attribute ``reset``, it is called with no argument before each
  rehearsal run (a fresh stream); otherwise it sees the runs back to back.

Every row it flags before the switch counts as a false alarm; the first row it flags after the
switch ends the run. A hook that returns anything else raises :class:`MonitorHookError`.

The rehearsal
-------------
:func:`rehearse` builds (and calibrates) a detector on the reference data, or takes a detector
or hook as it is, and runs ``runs`` times with different seeds: ``warmup`` decisions drawn
from the unshifted stream (held-out reference rows: not those the detector was built on), then
up to ``max_decisions`` from the shifted stream. It returns a :class:`Rehearsal` (plain data:
delays, false alarms per 1,000 decisions, the statistic of the first run for a figure, the
detector's configuration). It is bounded by ``runs x (warmup + max_decisions)`` decisions and
checks a :class:`threading.Event` between batches. Monitoring the model's output alone
(label-free) is the same call on a one-column array.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import numbers
import time
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._exceptions import DataError, MissingDependencyError, UsageError

if TYPE_CHECKING:
    import threading

__all__ = [
    "AlibiOnlineDetector",
    "AlibiOnlineEngine",
    "HookMonitor",
    "MonitorHookError",
    "OnlineDetector",
    "OnlineEngine",
    "Rehearsal",
    "ScipyOnlineDetector",
    "ScipyOnlineEngine",
    "get_online_engine",
    "rehearse",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: What detectors are fed: a DataFrame (columns by name) or a 2-D array (columns by position;
#: a 1-D array is one column).
Data = pd.DataFrame | npt.NDArray[Any]

_ENGINE_NAMES = ("scipy", "alibi", "auto")
CONFIG_VERSION = 1
#: Fewest simulated streams the alibi engine asks alibi-detect for (few columns need few).
MIN_ALIBI_BOOTSTRAPS = 5000


class MonitorHookError(UsageError):
    """A monitor hook returned something outside its contract (see the module docstring)."""


# --------------------------------------------------------------------------------------------
# Interfaces


class OnlineDetector(Protocol):
    """A monitor fed one decision (row) at a time, or a batch; see the module docstring.

    ``name`` names the engine ("scipy", "alibi", "hook"). A row alarms when the statistic
    returned for it is above :attr:`threshold` (NaN never alarms).
    """

    name: str

    @property
    def threshold(self) -> float:
        """The detector alarms on a row whose statistic is above this value."""
        ...

    def reset(self) -> None:
        """Forget the stream seen so far: the next row starts a new stream."""
        ...

    def update(self, batch: Data) -> list[float]:
        """Feed ``batch`` (rows in stream order); the statistic after each of its rows."""
        ...

    def config(self) -> dict[str, Any]:
        """The detector's configuration as a JSON-able dict (engine, ERT, window, thresholds)."""
        ...


class OnlineEngine(Protocol):
    """Builds online detectors calibrated on reference data."""

    name: str

    def build(
        self,
        reference: Data,
        *,
        categorical: Sequence[Hashable] = (),
        ert: float = 1000.0,
        window: int = 100,
        seed: int = 0,
        cancel: threading.Event | None = None,
    ) -> OnlineDetector:
        """A detector comparing the last ``window`` rows with ``reference``, calibrated to ``ert``.

        ``categorical`` names the columns holding categories (positions for an array); every
        other column must be numeric. ``ert`` (decisions between false alarms) must be at least
        twice ``window``. Raises :class:`~prodready.DataError` for unusable data,
        :class:`~prodready.UsageError` for bad settings, and ``ProbeCancelled`` when ``cancel``
        is set during calibration.
        """
        ...


# --------------------------------------------------------------------------------------------
# Shared checks and column access


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        # Imported here: prodready.probes imports the probes, and the monitoring probe imports
        # this module; a module-level import would be circular.
        from prodready.probes._base import ProbeCancelled

        raise ProbeCancelled("the rehearsal was cancelled")


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_settings(ert: Any, window: Any) -> tuple[float, int]:
    window = _check_int(window, "window", 2)
    if isinstance(ert, bool) or not isinstance(ert, numbers.Real) or not math.isfinite(ert):
        raise UsageError(f"ert must be a finite number of decisions, got {ert!r}")
    if ert < 2 * window:
        raise UsageError(
            f"an expected run time (ert) of {ert} decisions cannot be met with a window of "
            f"{window}: a restarted monitor needs {window} decisions before it can alarm; use "
            f"ert >= 2 x window ({2 * window}) or a smaller window"
        )
    return float(ert), window


@dataclass(frozen=True)
class _Column:
    """One column of the reference: its key (name or position), its JSON name and position."""

    key: Hashable
    name: str
    position: int


def _columns(data: Data, what: str) -> list[_Column]:
    if isinstance(data, pd.DataFrame):
        if data.columns.has_duplicates:
            dup = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
            raise DataError(f"the {what} has duplicated column names: {', '.join(dup)}")
        return [_Column(c, str(c), i) for i, c in enumerate(data.columns)]
    if isinstance(data, np.ndarray):
        if data.ndim not in (1, 2):
            raise DataError(f"the {what} must be a 2-D array (rows x columns), got {data.ndim}-D")
        width = 1 if data.ndim == 1 else data.shape[1]
        return [_Column(i, str(i), i) for i in range(width)]
    raise DataError(f"the {what} must be a pandas DataFrame or a numpy array, not {type(data)}")


def _n_rows(data: Data) -> int:
    return int(data.shape[0])


def _column_values(data: Data, column: _Column, by_name: bool) -> Any:
    """The values of ``column`` in ``data`` (a Series or a 1-D array)."""
    if isinstance(data, pd.DataFrame):
        if by_name:
            if column.key not in data.columns:
                raise DataError(f"the data has no column {column.name!r}")
            return data[column.key]
        if column.position >= data.shape[1]:
            raise DataError(f"the data has {data.shape[1]} column(s), needs {column.position + 1}")
        return data.iloc[:, column.position]
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            if column.position != 0:
                raise DataError(f"a 1-D array is one column; needs {column.position + 1}")
            return data
        if data.ndim != 2 or column.position >= data.shape[1]:
            raise DataError(
                f"the array has shape {data.shape}: needs {column.position + 1} columns"
            )
        return data[:, column.position]
    raise DataError(f"expected a pandas DataFrame or a numpy array, not {type(data)}")


def _is_numeric(values: Any) -> bool:
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_bool_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        # An object array of numbers (e.g. with None for missing) still counts as numeric.
        try:
            pd.to_numeric(pd.Series(values), errors="raise")
        except (TypeError, ValueError):
            return False
        return True
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_complex_dtype(dtype)


def _floats(values: Any) -> FloatArray:
    """The values as float64, missing values as NaN."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_object_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _objects(values: Any) -> npt.NDArray[np.object_]:
    if isinstance(values, pd.Series):
        return np.asarray(values.to_numpy(dtype=object), dtype=object)
    return np.asarray(values, dtype=object)


def _plan_columns(
    reference: Data, categorical: Sequence[Hashable], what: str = "reference data"
) -> tuple[list[_Column], set[int]]:
    """The reference's columns and the positions of the categorical ones (checked)."""
    if isinstance(categorical, str):
        raise UsageError(
            f"categorical must be a list of column names, not the string {categorical!r}"
        )
    columns = _columns(reference, what)
    if not columns:
        raise DataError(f"the {what} has no column")
    by_key = {c.key: c.position for c in columns}
    unknown = [c for c in categorical if c not in by_key]
    if unknown:
        raise DataError(
            f"categorical column(s) not in the {what}: " + ", ".join(repr(c) for c in unknown)
        )
    cats = {by_key[c] for c in categorical}
    for col in columns:
        if col.position in cats:
            continue
        values = _column_values(reference, col, by_name=True)
        if not _is_numeric(values):
            raise DataError(
                f"column {col.name!r} of the {what} has dtype {values.dtype}, which is not "
                "numeric: list it in `categorical` if it holds categories"
            )
    return columns, cats


def _jsonable(value: Any) -> Any:
    """A category label as a JSON value (numpy scalars unwrapped; other objects as text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _json_floats(values: Any) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float).ravel()]


# --------------------------------------------------------------------------------------------
# The scipy engine: binned window distances, thresholds calibrated by simulation


@dataclass
class _Feature:
    """How one feature is binned and judged by the scipy detector."""

    column: _Column
    kind: Literal["numeric", "categorical"]
    #: numeric: interior bin edges (sorted, finite); bins are (-inf, e0), [e0, e1), ..., [e_last,
    #: inf), then missing.
    edges: FloatArray | None
    #: categorical: the known categories; then a bin for all others, then missing.
    categories: list[Any] | None
    #: reference share of each bin.
    shares: FloatArray
    window: int
    #: Filled by calibration: the distance above which this feature alarms.
    threshold: float = math.nan
    _index: pd.Index | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.categories is not None:
            self._index = pd.Index(self.categories, dtype=object)
        self.set_shares(self.shares)

    def set_shares(self, shares: FloatArray) -> None:
        """Set the reference shares, and what the window's shares are compared with."""
        self.shares = shares
        point = np.cumsum(shares)[:-1] if self.kind == "numeric" else shares.copy()
        self.target: FloatArray = point
        # Weights of the squared gaps: 1 / variance of a share, floored (module docstring).
        self.weight: FloatArray = 1.0 / np.maximum(point * (1.0 - point), 1.0 / self.window)

    @property
    def n_bins(self) -> int:
        return int(self.shares.shape[0])

    def encode(self, values: Any) -> IntArray:
        """Bin index of each value."""
        if self.kind == "numeric":
            assert self.edges is not None
            x = _floats(values)
            codes = np.searchsorted(self.edges, x, side="right").astype(np.intp)
            codes[np.isnan(x)] = self.n_bins - 1
            return codes
        assert self._index is not None
        objects = _objects(values)
        codes = self._index.get_indexer(pd.Index(objects, dtype=object)).astype(np.intp)
        codes[codes < 0] = self.n_bins - 2
        codes[pd.isna(objects)] = self.n_bins - 1
        return codes

    def distances(self, codes: IntArray, chunk: int = 2_000_000) -> FloatArray:
        """Distance of each full window of ``codes`` (streams x decisions) to the reference.

        Returns (streams, decisions - window + 1): column i is the window ending at decision
        ``i + window - 1``.
        """
        n_streams, length = codes.shape
        window = self.window
        n_pos = length - window + 1
        out = np.empty((n_streams, max(n_pos, 0)), dtype=np.float64)
        if n_pos <= 0 or n_streams == 0:
            return out
        k = self.n_bins
        step = max(1, chunk // ((length + 1) * k))
        times = np.arange(1, length + 1)[None, :]
        for lo in range(0, n_streams, step):
            part = codes[lo : lo + step]
            rows = part.shape[0]
            counts = np.zeros((rows, length + 1, k), dtype=np.int32)
            counts[np.arange(rows)[:, None], times, part] = 1
            np.cumsum(counts, axis=1, out=counts)
            in_window = counts[:, window:, :] - counts[:, :-window, :]
            if self.kind == "numeric":
                in_window = np.cumsum(in_window[:, :, :-1], axis=2, dtype=np.int32)
            gap = in_window.astype(np.float64)
            gap *= 1.0 / window
            gap -= self.target
            np.square(gap, out=gap)
            out[lo : lo + rows] = gap @ self.weight
        return out

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.column.name,
            "position": self.column.position,
            "kind": self.kind,
            "distance": "binned Anderson-Darling" if self.kind == "numeric" else "chi-square",
            "threshold": self.threshold,
        }
        if self.kind == "numeric":
            assert self.edges is not None
            out["edges"] = [float(e) for e in self.edges]
            out["bins"] = "(-inf, edges[0]), [edges[0], edges[1]), ..., [edges[-1], inf), missing"
        else:
            assert self.categories is not None
            out["categories"] = [_jsonable(c) for c in self.categories]
            out["bins"] = "categories..., any other value, missing"
        out["reference_shares"] = [float(s) for s in self.shares]
        return out


def _numeric_feature(column: _Column, values: Any, bins: int, window: int) -> _Feature:
    x = _floats(values)
    finite = x[np.isfinite(x)]
    if finite.size:
        levels = np.arange(1, bins) / bins
        edges = np.unique(np.quantile(finite, levels, method="inverted_cdf"))
        # A bin must hold values: drop an edge at the minimum (nothing would fall below it).
        edges = edges[edges > finite.min()]
    else:
        edges = np.empty(0)
    edges = np.asarray(edges, dtype=np.float64)
    feature = _Feature(column, "numeric", edges, None, np.zeros(edges.size + 2), window)
    codes = feature.encode(x)
    feature.set_shares(np.bincount(codes, minlength=feature.n_bins) / max(codes.size, 1))
    return feature


def _categorical_feature(
    column: _Column, values: Any, max_categories: int, window: int
) -> _Feature:
    objects = _objects(values)
    counts = pd.Series(objects).value_counts(dropna=True, sort=True)
    categories = list(counts.index[:max_categories])
    feature = _Feature(
        column, "categorical", None, categories, np.zeros(len(categories) + 2), window
    )
    codes = feature.encode(objects)
    feature.set_shares(np.bincount(codes, minlength=feature.n_bins) / max(codes.size, 1))
    return feature


def _bootstrap_rows(
    rng: np.random.Generator, n_reference: int, n_streams: int, length: int
) -> IntArray:
    """Row indices of ``n_streams`` streams, each drawn from its own bootstrap resample.

    Drawing ``length`` rows from a resample of size n (itself n uniform draws) is the same as
    drawing ``length`` slots of the resample and giving each distinct slot a uniform row: only
    the slots used are drawn.
    """
    rows = np.empty((n_streams, length), dtype=np.intp)
    for s in range(n_streams):
        slots = rng.integers(0, n_reference, size=length)
        distinct, inverse = np.unique(slots, return_inverse=True)
        rows[s] = rng.integers(0, n_reference, size=distinct.size)[inverse]
    return rows


def _alarms_with_restart(positions: IntArray, window: int) -> int:
    """Alarms raised at the sorted decision ``positions`` where a statistic is over threshold.

    After an alarm the detector restarts: the next alarm can come ``window`` decisions later.
    """
    count = 0
    i = 0
    n = positions.size
    while i < n:
        count += 1
        i = int(np.searchsorted(positions, positions[i] + window, side="left"))
    return count


@dataclass
class _Calibration:
    scale: float
    alarms: int
    decisions: int
    streams: int
    stream_length: int
    seconds: float

    @property
    def achieved_ert(self) -> float:
        return self.decisions / self.alarms if self.alarms else math.inf


def _calibrate(
    features: list[_Feature],
    reference_codes: IntArray,
    *,
    ert: float,
    window: int,
    budget: int,
    rng: np.random.Generator,
    cancel: threading.Event | None,
) -> _Calibration:
    """Set each feature's threshold so that the detector's ERT on simulated streams is ``ert``.

    See the module docstring: per-feature (1 - 1/ERT) quantiles of the distance put features
    on one scale; one factor on them is chosen with alarms and restarts simulated.
    """
    start = time.perf_counter()
    length = int(min(max(2 * ert, 5 * window), 20_000))
    n_streams = max(50, math.ceil(budget / length))
    n_ref = reference_codes.shape[0]
    rows = _bootstrap_rows(rng, n_ref, n_streams, length)
    n_pos = length - window + 1
    level = 1.0 - 1.0 / ert
    combined = np.zeros((n_streams, n_pos), dtype=np.float64)
    quantiles: list[float] = []
    for j, feature in enumerate(features):
        _check_cancel(cancel)
        dist = feature.distances(reference_codes[:, j][rows])
        q = float(np.quantile(dist, level))
        if not q > 0.0:
            # The feature never moved on the simulated streams (constant in the reference):
            # alarm when about 5% of the window falls in a bin the reference never saw.
            q = 0.0025 * window
        quantiles.append(q)
        dist /= q
        np.maximum(combined, dist, out=combined)
    _check_cancel(cancel)
    # Decision index of each statistic: stream s, window ending at decision i + window - 1.
    flat = combined.ravel()
    order = np.sort(flat)
    offsets = np.arange(n_streams, dtype=np.intp)[:, None] * length + (window - 1)
    positions_of = (offsets + np.arange(n_pos, dtype=np.intp)[None, :]).ravel()
    decisions = n_streams * length
    allowed = decisions / ert

    def alarms_at(scale: float) -> int:
        return _alarms_with_restart(positions_of[flat > scale], window)

    # The smallest simulated value whose alarm rate is within 1/ERT (rates fall as it grows).
    lo, hi = 0, order.size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if alarms_at(float(order[mid])) <= allowed:
            hi = mid
        else:
            lo = mid + 1
    scale = float(order[lo])
    for feature, q in zip(features, quantiles, strict=True):
        feature.threshold = scale * q
    return _Calibration(
        scale=scale,
        alarms=alarms_at(scale),
        decisions=decisions,
        streams=n_streams,
        stream_length=length,
        seconds=time.perf_counter() - start,
    )


class ScipyOnlineDetector:
    """Windowed distances to the reference with calibrated thresholds; see the module docstring.

    Built by :meth:`ScipyOnlineEngine.build` or rebuilt from a saved configuration with
    :meth:`from_config`. The statistic is ``max_f distance_f / threshold_f`` over the features
    (NaN until ``window`` rows have been seen since the last (re)start), the threshold 1.
    ``last_alarm`` names the features over their threshold at the latest alarm.
    """

    name: str = "scipy"

    def __init__(
        self,
        features: list[_Feature],
        *,
        ert: float,
        window: int,
        by_name: bool,
        calibration: dict[str, Any],
    ) -> None:
        self._features = features
        self.ert = ert
        self.window = window
        self._by_name = by_name
        self._calibration = calibration
        self._recent: IntArray = np.empty((0, len(features)), dtype=np.intp)
        self.last_alarm: list[str] = []

    @property
    def threshold(self) -> float:
        return 1.0

    @property
    def features(self) -> list[str]:
        return [f.column.name for f in self._features]

    @property
    def expected_ert(self) -> float:
        """The ERT the calibration achieved on its simulated streams (``ert`` if unknown).

        At least ``ert``; larger when the statistic takes few distinct values.
        """
        if "achieved_ert" not in self._calibration:
            return self.ert
        achieved = self._calibration["achieved_ert"]  # None: no simulated false alarm at all
        return math.inf if achieved is None else float(achieved)

    def reset(self) -> None:
        self._recent = np.empty((0, len(self._features)), dtype=np.intp)
        self.last_alarm = []

    def _encode(self, batch: Data) -> IntArray:
        by_name = self._by_name and isinstance(batch, pd.DataFrame)
        columns = [f.encode(_column_values(batch, f.column, by_name)) for f in self._features]
        return np.column_stack(columns) if columns else np.empty((_n_rows(batch), 0), np.intp)

    def update(self, batch: Data) -> list[float]:
        """Feed ``batch``; the statistic after each row (alarm: above 1; restart after it)."""
        codes = self._encode(batch)
        n = codes.shape[0]
        out = np.full(n, np.nan)
        window = self.window
        thresholds = np.array([f.threshold for f in self._features])[:, None]
        start = 0
        while start < n:
            full = np.concatenate([self._recent, codes[start:]])
            seen = self._recent.shape[0]
            # ratios[f, i]: feature f on the window ending at row i + window - 1 of `full`.
            ratios = np.vstack(
                [f.distances(full[:, j][None, :])[0] for j, f in enumerate(self._features)]
            )
            ratios /= thresholds
            stat = ratios.max(axis=0) if ratios.size else np.empty(0)
            # Row k of this segment is row seen + k of `full`: it has a statistic from
            # k = window - 1 - seen on.
            first = max(0, window - 1 - seen)
            segment = np.full(n - start, np.nan)
            if first < n - start:
                segment[first:] = stat[seen + first - (window - 1) :]
            hits = np.flatnonzero(segment > 1.0)
            if hits.size:
                k = int(hits[0])
                out[start : start + k + 1] = segment[: k + 1]
                column = ratios[:, seen + k - (window - 1)]
                self.last_alarm = [
                    f.column.name for f, r in zip(self._features, column, strict=True) if r > 1.0
                ]
                self._recent = np.empty((0, len(self._features)), dtype=np.intp)
                start += k + 1
            else:
                out[start:] = segment
                self._recent = full[max(0, full.shape[0] - (window - 1)) :]
                break
        return [float(v) for v in out]

    def config(self) -> dict[str, Any]:
        """The full configuration: :meth:`from_config` rebuilds this detector from it."""
        return {
            "engine": self.name,
            "version": CONFIG_VERSION,
            "ert": self.ert,
            "window": self.window,
            "threshold": self.threshold,
            "statistic": "max over features of distance / feature threshold",
            "alarm": "statistic > threshold; the window restarts empty after an alarm",
            "columns_by": "name" if self._by_name else "position",
            "calibration": dict(self._calibration),
            "features": [f.config() for f in self._features],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScipyOnlineDetector:
        """The detector described by ``config`` (from :meth:`config`), without recalibrating."""
        try:
            if config.get("engine") != "scipy" or config.get("version") != CONFIG_VERSION:
                raise UsageError(
                    f"not a scipy online detector configuration (version {CONFIG_VERSION})"
                )
            ert, window = _check_settings(config["ert"], config["window"])
            by_name = config.get("columns_by", "name") == "name"
            features: list[_Feature] = []
            for item in config["features"]:
                column = _Column(item["name"], item["name"], int(item["position"]))
                kind = item["kind"]
                if kind not in ("numeric", "categorical"):
                    raise UsageError(f"unknown feature kind {kind!r}")
                edges = np.asarray(item["edges"], dtype=np.float64) if kind == "numeric" else None
                categories = list(item["categories"]) if kind == "categorical" else None
                shares = np.asarray(item["reference_shares"], dtype=np.float64)
                feature = _Feature(column, kind, edges, categories, shares, window)
                expected = (edges.size + 2) if edges is not None else len(categories or []) + 2
                if shares.shape != (expected,):
                    raise UsageError(f"feature {column.name!r}: reference_shares has bad length")
                feature.threshold = float(item["threshold"])
                features.append(feature)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"invalid online detector configuration: {exc!r}") from exc
        calibration = dict(config.get("calibration", {}))
        return cls(features, ert=ert, window=window, by_name=by_name, calibration=calibration)


class ScipyOnlineEngine:
    """Builds :class:`ScipyOnlineDetector` s (numpy only; see the module docstring).

    ``bins``: quantile bins per numeric feature (fewer when values repeat). ``max_categories``:
    categories kept per categorical feature (the most frequent; the others share a bin).
    ``calibration_decisions``: simulated decisions for the calibration (default
    ``max(400_000, 200 x ert)``, at most 4 million): about ``decisions / ert`` simulated
    alarms fix the threshold, so 400 alarms put the false-alarm rate within ~5% (one standard
    error). The time is about proportional to ``decisions x features x bins``: ~1 s for 14
    features and 400,000 decisions on two cores.
    """

    name: str = "scipy"

    def __init__(
        self, *, bins: int = 20, max_categories: int = 50, calibration_decisions: int | None = None
    ) -> None:
        self.bins = _check_int(bins, "bins", 2)
        self.max_categories = _check_int(max_categories, "max_categories", 1)
        self.calibration_decisions = (
            None
            if calibration_decisions is None
            else _check_int(calibration_decisions, "calibration_decisions", 10_000)
        )

    def build(
        self,
        reference: Data,
        *,
        categorical: Sequence[Hashable] = (),
        ert: float = 1000.0,
        window: int = 100,
        seed: int = 0,
        cancel: threading.Event | None = None,
    ) -> ScipyOnlineDetector:
        """Bin the reference, calibrate by simulation; see :meth:`OnlineEngine.build`."""
        ert, window = _check_settings(ert, window)
        columns, cats = _plan_columns(reference, categorical)
        n_ref = _n_rows(reference)
        if n_ref < window:
            raise DataError(
                f"the reference data has {n_ref} rows: at least the window ({window}) is needed"
            )
        features: list[_Feature] = []
        for col in columns:
            values = _column_values(reference, col, by_name=True)
            if col.position in cats:
                features.append(_categorical_feature(col, values, self.max_categories, window))
            else:
                features.append(_numeric_feature(col, values, self.bins, window))
        codes = np.column_stack(
            [f.encode(_column_values(reference, f.column, True)) for f in features]
        )
        budget = self.calibration_decisions or int(min(max(400_000, 200 * ert), 4_000_000))
        rng = np.random.default_rng(seed)
        result = _calibrate(
            features, codes, ert=ert, window=window, budget=budget, rng=rng, cancel=cancel
        )
        calibration = {
            "method": "double bootstrap of reference rows; per-feature (1 - 1/ERT) quantiles "
            "of the distance times one scale chosen so that simulated false alarms (with "
            "restarts) are at most 1/ERT per decision",
            "reference_rows": n_ref,
            "simulated_streams": result.streams,
            "stream_length": result.stream_length,
            "simulated_decisions": result.decisions,
            "simulated_false_alarms": result.alarms,
            "achieved_ert": result.achieved_ert if math.isfinite(result.achieved_ert) else None,
            "scale": result.scale,
            "seed": seed,
            "seconds": round(result.seconds, 3),
        }
        return ScipyOnlineDetector(
            features,
            ert=ert,
            window=window,
            by_name=isinstance(reference, pd.DataFrame),
            calibration=calibration,
        )


# --------------------------------------------------------------------------------------------
# The alibi-detect engine


def _import_alibi_online() -> tuple[Any, Any]:
    from prodready.drift import quiet_alibi_import

    try:
        with quiet_alibi_import():
            from alibi_detect.cd import CVMDriftOnline, FETDriftOnline
    except ImportError as exc:
        raise MissingDependencyError(
            "alibi-detect", "alibi", "the alibi online drift engine"
        ) from exc
    return CVMDriftOnline, FETDriftOnline


@dataclass
class _AlibiColumn:
    """How one feature is fed to alibi-detect."""

    column: _Column
    detector: Literal["cvm", "fet"]
    kind: Literal["numeric", "categorical"]
    #: cvm numeric: value for missing, jitter width (0: none).
    missing_value: float = 0.0
    jitter: float = 0.0
    #: categorical (cvm: codes in this order, others and missing after; fet: the two values).
    categories: list[Any] | None = None
    _index: pd.Index | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.categories is not None:
            self._index = pd.Index(self.categories, dtype=object)

    def encode(self, values: Any, rng: np.random.Generator) -> FloatArray:
        """cvm: one float column; fet: two 0/1 columns (value is the 1st, the 2nd category)."""
        if self.kind == "numeric" and self.detector == "cvm":
            x = _floats(values).copy()
            x[np.isnan(x)] = self.missing_value
            if self.jitter:
                x += rng.uniform(0.0, self.jitter, size=x.shape)
            return x[:, None]
        objects = _objects(values) if self.kind == "categorical" else _floats(values).astype(object)
        assert self._index is not None
        codes = self._index.get_indexer(pd.Index(objects, dtype=object)).astype(np.float64)
        if self.detector == "fet":
            return np.column_stack([codes == 0, codes == 1]).astype(np.float64)
        unknown = codes < 0
        codes[unknown] = len(self._index)
        codes[unknown & np.asarray(pd.isna(objects))] = len(self._index) + 1
        return (codes + rng.uniform(0.0, 1.0, size=codes.shape))[:, None]

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.column.name,
            "position": self.column.position,
            "kind": self.kind,
            "detector": "CVMDriftOnline" if self.detector == "cvm" else "FETDriftOnline",
        }
        if self.detector == "fet":
            out["encoding"] = "two indicator columns (one per value), each tested for an increase"
            out["values"] = [_jsonable(c) for c in self.categories or []]
        elif self.kind == "categorical":
            out["encoding"] = "category codes (most frequent first; then others, missing) + U(0,1)"
            out["categories"] = [_jsonable(c) for c in self.categories or []]
        else:
            out["encoding"] = "value; missing as missing_value; + U(0, jitter) to break ties"
            out["missing_value"] = self.missing_value
            out["jitter"] = self.jitter
        return out


def _alibi_column(column: _Column, values: Any, categorical: bool) -> _AlibiColumn:
    if categorical:
        objects = _objects(values)
        counts = pd.Series(objects).value_counts(dropna=True, sort=True)
        labels = list(counts.index)
        if len(labels) == 2 and not pd.isna(objects).any():
            return _AlibiColumn(column, "fet", "categorical", categories=labels)
        return _AlibiColumn(column, "cvm", "categorical", categories=labels)
    x = _floats(values)
    finite = x[np.isfinite(x)]
    distinct = np.unique(finite)
    if distinct.size == 2 and finite.size == x.size:
        return _AlibiColumn(column, "fet", "numeric", categories=[float(v) for v in distinct])
    if distinct.size == 0:
        return _AlibiColumn(column, "cvm", "numeric", missing_value=0.0, jitter=1.0)
    span = float(distinct[-1] - distinct[0])
    # Missing values sit below every value: a change in their share moves the CDF.
    missing_value = float(distinct[0]) - max(span, 1.0)
    # CVMDriftOnline's calibration assumes continuous data: break ties with a jitter narrower
    # than the smallest gap between distinct values (the order of distinct values is kept).
    jitter = float(np.diff(distinct).min()) if distinct.size > 1 else 1.0
    if distinct.size == finite.size:
        jitter = 0.0
    return _AlibiColumn(column, "cvm", "numeric", missing_value=missing_value, jitter=jitter)


class AlibiOnlineDetector:
    """alibi-detect's CVMDriftOnline and FETDriftOnline behind :class:`OnlineDetector`.

    The statistic of a row is the largest ratio of an alibi test statistic to its threshold
    at that time step (over features and detectors), so the threshold is 1; the alarm is
    alibi-detect's own ``is_drift`` (FETDriftOnline may also alarm, at random, on a statistic
    equal to its threshold: the statistic is then reported just above 1). After an alarm both
    detectors restart (``reset_state``), as their ERT assumes.
    """

    name: str = "alibi"

    def __init__(
        self,
        columns: list[_AlibiColumn],
        cvm: Any,
        fet: Any,
        *,
        ert: float,
        window: int,
        by_name: bool,
        seed: int,
        settings: dict[str, Any],
    ) -> None:
        self._columns = columns
        self._cvm = cvm
        self._fet = fet
        self.ert = ert
        self.window = window
        self._by_name = by_name
        self._rng = np.random.default_rng([seed, 1])
        # FETDriftOnline breaks ties with numpy's global generator: give it its own stream, so
        # that a seed gives the same results whatever else uses the global generator.
        self._global_state = np.random.RandomState([seed, 2]).get_state()
        self._settings = settings
        self.last_alarm: list[str] = []

    @property
    def threshold(self) -> float:
        return 1.0

    @property
    def features(self) -> list[str]:
        return [c.column.name for c in self._columns]

    def reset(self) -> None:
        for det in (self._cvm, self._fet):
            if det is not None:
                det.reset_state()
        self.last_alarm = []

    def _encode(self, batch: Data, which: str) -> FloatArray | None:
        by_name = self._by_name and isinstance(batch, pd.DataFrame)
        parts = [
            c.encode(_column_values(batch, c.column, by_name), self._rng)
            for c in self._columns
            if c.detector == which
        ]
        return np.hstack(parts) if parts else None

    @staticmethod
    def _step(det: Any, row: FloatArray) -> tuple[bool, FloatArray]:
        """Feed one row to an alibi detector: its alarm and statistic / threshold per column."""
        pred = det.predict(row, return_test_stat=True)["data"]
        stats = np.asarray(pred["test_stat"], dtype=np.float64)  # (windows, columns)
        thresholds = np.asarray(pred["threshold"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.fmax.reduce(stats / thresholds, axis=0)
        # alibi-detect keeps the whole stream, concatenating a row at a time (quadratic): only
        # the last max-window rows and the last statistics are ever read again.
        det.xs = det.xs[-det.max_ws :]
        det.test_stats = det.test_stats[-1:]
        det.drift_preds = det.drift_preds[-1:]
        return bool(pred["is_drift"]), np.asarray(ratios, dtype=np.float64)

    def update(self, batch: Data) -> list[float]:
        """Feed ``batch`` row by row; the statistic after each row (alarm: above 1)."""
        x_cvm = self._encode(batch, "cvm")
        x_fet = self._encode(batch, "fet")
        names = [c.column.name for c in self._columns if c.detector == "cvm"]
        fet_names = [n for c in self._columns if c.detector == "fet" for n in [c.column.name] * 2]
        out: list[float] = []
        saved = np.random.get_state()
        np.random.set_state(self._global_state)
        try:
            for i in range(_n_rows(batch)):
                out.append(self._row(x_cvm, x_fet, i, names, fet_names))
        finally:
            self._global_state = np.random.get_state()
            np.random.set_state(saved)
        return out

    def _row(
        self,
        x_cvm: FloatArray | None,
        x_fet: FloatArray | None,
        i: int,
        names: list[str],
        fet_names: list[str],
    ) -> float:
        """Feed row ``i`` to the detectors; its statistic (restart after an alarm)."""
        alarm = False
        ratios: list[tuple[str, float]] = []
        if x_cvm is not None:
            hit, r = self._step(self._cvm, x_cvm[i])
            alarm |= hit
            ratios += list(zip(names, r.tolist(), strict=True))
        if x_fet is not None:
            hit, r = self._step(self._fet, x_fet[i])
            alarm |= hit
            ratios += list(zip(fet_names, r.tolist(), strict=True))
        finite = [v for _, v in ratios if not math.isnan(v)]
        stat = max(finite) if finite else math.nan
        if alarm:
            stat = max(stat, math.nextafter(1.0, math.inf)) if finite else 2.0
            culprits = sorted({n for n, v in ratios if v >= 1.0})
            self.reset()  # both detectors restart, as alibi-detect's ERT assumes
            self.last_alarm = culprits
        elif stat > 1.0:
            stat = 1.0
        return stat

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "engine": self.name,
            "version": CONFIG_VERSION,
            "ert": self.ert,
            "window": self.window,
            "threshold": self.threshold,
            "statistic": "max over features of alibi test statistic / alibi threshold",
            "alarm": "alibi-detect's is_drift; both detectors restart after an alarm",
            "columns_by": "name" if self._by_name else "position",
            "alibi": copy.deepcopy(self._settings),
            "features": [c.config() for c in self._columns],
        }
        for key, det in (("cvm", self._cvm), ("fet", self._fet)):
            if det is not None:
                # Thresholds per time step since the (re)start, then constant: the last ones.
                thresholds = np.asarray(det.thresholds, dtype=np.float64)
                out["alibi"][key]["threshold_steps"] = int(thresholds.shape[0])
                out["alibi"][key]["final_thresholds"] = _json_floats(thresholds[-1])
        return out


class AlibiOnlineEngine:
    """Builds :class:`AlibiOnlineDetector` s (the optional ``alibi`` extra).

    alibi-detect is licensed under the Business Source License 1.1: free for non-production
    use; production use needs a commercial licence from Seldon. It is imported when
    :meth:`build` runs (~2.5 s); without it :meth:`build` raises
    :class:`~prodready.MissingDependencyError`.

    Features: numbers go to one ``CVMDriftOnline`` (ties broken by a jitter narrower than the
    gap between distinct values, as its calibration assumes continuous data; missing values
    below all others); binary features (two values, no missing value) to one
    ``FETDriftOnline`` as two indicator columns, one per value, each tested for an increase
    (so both directions are seen); categorical features with more values go to the
    CVMDriftOnline as category codes plus a U(0, 1) jitter, which is a valid test of any change
    in the category shares. (One FETDriftOnline column per category would cost about
    ``columns x n_bootstraps x window`` hypergeometric evaluations: ~25 s for the example's
    13 categories.)

    ERT: alibi-detect counts its ERT from the time the window is full and splits it over the
    columns of a detector (assuming them independent); with a restart after each alarm, the
    ``ert`` asked for here (decisions between false alarms) is ``window - 1`` plus the
    alibi ERT, and is split between the two detectors in proportion to their columns.

    Reference: ``CVMDriftOnline`` compares every window with every reference row, and its
    calibration simulates the reference too: it gets ``max_reference`` rows of the reference
    (a random subset). ``FETDriftOnline`` gets ``max_reference_binary`` rows (default: as
    many); it takes the reference's share as exact (its simulated streams are drawn at that
    share), so a small reference makes it alarm more often than its ERT on new data, but its
    calibration time grows about linearly with the reference size.

    Cost: alibi-detect calibrates at construction by simulating ``n_bootstraps`` streams, and
    needs at least ``1 / beta`` of them, ``beta ~ 1 / (alibi ERT x columns)``; ``n_bootstraps``
    None takes ``bootstrap_margin`` (1.25) times that minimum, and at least
    :data:`MIN_ALIBI_BOOTSTRAPS`. For the example (13 CVM and 2 FET
    columns, 200 reference rows, ERT 1,000) building takes ~16 s with a window of 100 (about
    half in each detector) and each row ~0.8 ms; ~8 s and ~0.4 ms with a window of 50.
    Accuracy: each threshold is an extreme quantile of so few simulated streams, which biases
    it low (its exceedance is about ``beta x (1 + 1 / bootstrap_margin)``, more with the
    noise): expect up to 1.5-3 times as many false alarms as 1/ERT. Raising
    ``bootstrap_margin`` brings it closer, at a proportional cost. The rehearsal measures the
    rate actually reached. Sensitivity: 200 reference rows see less than the scipy engine's
    thousands (on the example's model output, median delay ~550 decisions against ~90).
    """

    name: str = "alibi"

    def __init__(
        self,
        *,
        max_reference: int = 200,
        max_reference_binary: int | None = None,
        n_bootstraps: int | None = None,
        bootstrap_margin: float = 1.25,
    ) -> None:
        self.max_reference = _check_int(max_reference, "max_reference", 20)
        self.max_reference_binary = (
            self.max_reference
            if max_reference_binary is None
            else _check_int(max_reference_binary, "max_reference_binary", 20)
        )
        self.n_bootstraps = (
            None if n_bootstraps is None else _check_int(n_bootstraps, "n_bootstraps", 100)
        )
        if not bootstrap_margin >= 1.0:
            raise UsageError(f"bootstrap_margin must be >= 1, got {bootstrap_margin!r}")
        self.bootstrap_margin = float(bootstrap_margin)

    def build(
        self,
        reference: Data,
        *,
        categorical: Sequence[Hashable] = (),
        ert: float = 1000.0,
        window: int = 100,
        seed: int = 0,
        cancel: threading.Event | None = None,
    ) -> AlibiOnlineDetector:
        """Encode the reference, build and calibrate alibi's detectors; see
        :meth:`OnlineEngine.build`."""
        ert, window = _check_settings(ert, window)
        columns, cats = _plan_columns(reference, categorical)
        n_ref = _n_rows(reference)
        if n_ref < window:
            raise DataError(
                f"the reference data has {n_ref} rows: at least the window ({window}) is needed"
            )
        _check_cancel(cancel)
        cvm_class, fet_class = _import_alibi_online()
        rng = np.random.default_rng(seed)
        order = rng.permutation(n_ref)
        samples = {
            "cvm": _take(reference, np.sort(order[: self.max_reference])),
            "fet": _take(reference, np.sort(order[: self.max_reference_binary])),
        }
        alibi_columns = [
            _alibi_column(c, _column_values(samples["fet"], c, True), c.position in cats)
            for c in columns
        ]
        enc_rng = np.random.default_rng([seed, 2])

        def matrix(which: Literal["cvm", "fet"]) -> FloatArray | None:
            parts = [
                c.encode(_column_values(samples[which], c.column, True), enc_rng)
                for c in alibi_columns
                if c.detector == which
            ]
            return np.hstack(parts) if parts else None

        x_cvm, x_fet = matrix("cvm"), matrix("fet")
        widths = {k: (0 if x is None else x.shape[1]) for k, x in (("cvm", x_cvm), ("fet", x_fet))}
        total = widths["cvm"] + widths["fet"]
        alibi_ert = ert - (window - 1)
        settings: dict[str, Any] = {"window_sizes": [window], "seed": seed}
        built: dict[str, Any] = {"cvm": None, "fet": None}
        # alibi-detect draws from numpy's global generator: seed it, and restore it after.
        state = np.random.get_state()
        try:
            for key, x in (("cvm", x_cvm), ("fet", x_fet)):
                if x is None:
                    continue
                _check_cancel(cancel)
                width = widths[key]
                ert_k = alibi_ert * total / width
                beta = 1.0 - (1.0 - 1.0 / ert_k) ** (1.0 / width)
                needed = math.ceil(1.0 / beta)
                n_boot = self.n_bootstraps or max(
                    math.ceil(self.bootstrap_margin * needed), MIN_ALIBI_BOOTSTRAPS
                )
                if n_boot < needed:
                    raise UsageError(
                        f"n_bootstraps={n_boot} is too few for alibi-detect to calibrate "
                        f"{width} column(s) at an ERT of {ert_k:.0f}: at least {needed} needed"
                    )
                start = time.perf_counter()
                for attempt in range(3):
                    np.random.seed((seed + 7919 * attempt) % 2**32)
                    try:
                        if key == "cvm":
                            det = cvm_class(
                                x,
                                ert=ert_k,
                                window_sizes=[window],
                                n_bootstraps=n_boot,
                                verbose=False,
                            )
                        else:
                            det = fet_class(
                                x,
                                ert=ert_k,
                                window_sizes=[window],
                                n_bootstraps=n_boot,
                                alternative="greater",
                                verbose=False,
                            )
                        break
                    except ValueError as exc:
                        # FETDriftOnline's calibration can draw a tie-breaking probability
                        # outside [0, 1] (alibi-detect 0.13) on some simulated streams: retry
                        # with other streams.
                        if key != "fet" or attempt == 2 or "p < 0" not in str(exc):
                            raise
                built[key] = det
                settings[key] = {
                    "class": "CVMDriftOnline" if key == "cvm" else "FETDriftOnline",
                    "columns": width,
                    "reference_rows": int(x.shape[0]),
                    "alibi_ert": ert_k,
                    "n_bootstraps": n_boot,
                    "attempts": attempt + 1,
                    "seconds": round(time.perf_counter() - start, 3),
                }
        finally:
            np.random.set_state(state)
        _check_cancel(cancel)
        return AlibiOnlineDetector(
            alibi_columns,
            built["cvm"],
            built["fet"],
            ert=ert,
            window=window,
            by_name=isinstance(reference, pd.DataFrame),
            seed=seed,
            settings=settings,
        )


# --------------------------------------------------------------------------------------------
# A system's own monitor


class HookMonitor:
    """A system's own monitor (``hooks.monitor``) as an :class:`OnlineDetector`.

    ``func`` follows the hook contract of the module docstring. ``columns`` names the columns
    of the frames it receives when the data are arrays (default "0", "1", ...). The statistic
    is 1 on a row the hook flagged, 0 otherwise; the threshold 0.5.
    """

    name: str = "hook"

    def __init__(
        self,
        func: Callable[[pd.DataFrame], Any],
        *,
        columns: Sequence[Hashable] | None = None,
        label: str | None = None,
    ) -> None:
        if not callable(func):
            raise UsageError(f"a monitor hook must be callable, not {type(func).__name__}")
        self.func = func
        self.columns = None if columns is None else list(columns)
        self.label = label or getattr(func, "__qualname__", None) or type(func).__qualname__
        self.calls = 0

    @property
    def threshold(self) -> float:
        return 0.5

    def reset(self) -> None:
        reset = getattr(self.func, "reset", None)
        if callable(reset):
            reset()

    def _frame(self, batch: Data) -> pd.DataFrame:
        if isinstance(batch, pd.DataFrame):
            return batch.reset_index(drop=True)
        values = np.asarray(batch)
        if values.ndim == 1:
            values = values[:, None]
        columns = self.columns or [str(i) for i in range(values.shape[1])]
        return pd.DataFrame(values, columns=pd.Index(columns))

    def update(self, batch: Data) -> list[float]:
        """Call the hook on ``batch``; 1.0 for each row it flagged, 0.0 for the others."""
        frame = self._frame(batch)
        n = len(frame)
        self.calls += 1
        flags = _hook_flags(self.func(frame), n, self.label)
        return [1.0 if f else 0.0 for f in flags]

    def config(self) -> dict[str, Any]:
        return {"engine": self.name, "hook": self.label, "threshold": self.threshold}


def _hook_flags(result: Any, n: int, label: str) -> list[bool]:
    def bad(what: str) -> MonitorHookError:
        return MonitorHookError(
            f"the monitor hook {label} returned {what}: expected one alarm flag per row "
            f"({n} booleans) or a single boolean for the batch"
        )

    if isinstance(result, bool | np.bool_):
        return [False] * (n - 1) + [bool(result)]
    if isinstance(result, pd.Series | np.ndarray | list | tuple):
        values = np.asarray(result, dtype=object).ravel()
        if values.shape[0] != n:
            raise bad(f"{values.shape[0]} value(s) for {n} row(s)")
        flags: list[bool] = []
        for v in values:
            if isinstance(v, bool | np.bool_) or (
                isinstance(v, numbers.Integral) and int(v) in (0, 1)
            ):
                flags.append(bool(v))
            else:
                raise bad(f"a value {v!r} that is not a boolean")
        return flags
    raise bad(f"a {type(result).__name__}")


# --------------------------------------------------------------------------------------------
# The rehearsal


@dataclass
class Rehearsal:
    """What a rehearsal measured; plain data (:meth:`as_dict` is JSON-able).

    - ``engine``: "scipy", "alibi" or "hook"; ``config``: the detector's configuration
      (:meth:`OnlineDetector.config`), ready to save.
    - ``ert``, ``window``: the detector's (None for a hook).
    - ``runs``, ``warmup``, ``max_decisions``, ``batch_size``: how it was run; each run fed
      ``warmup`` unshifted decisions, then shifted ones until the first alarm, at most
      ``max_decisions``.
    - ``delays``: per run, shifted decisions fed up to and including the alarm (1 = the first
      shifted decision alarmed), None if no alarm within ``max_decisions`` (censored);
      ``detected``: runs with an alarm. ``median_delay`` and ``p90_delay`` count censored
      runs as later than any detected one: None when more than half (a tenth) of the runs
      were not detected.
    - ``false_alarms``: alarms on the ``unshifted_decisions`` (all runs' warm-ups);
      ``false_alarms_per_1000`` their rate (None without warm-up);
      ``expected_false_alarms_per_1000`` = 1000 / the detector's ERT (for the scipy engine
      the ERT its calibration achieved on the simulated streams, which exceeds the ERT asked
      for when the statistic takes few distinct values, e.g. one binary column); None for a
      hook.
    - ``detected_by``: for detectors that say so, how many runs' detection each feature
      triggered.
    - ``trace``: the first run, for a figure: ``statistic`` after each decision (None where
      the detector could not judge), ``threshold``, ``switch`` (index of the first shifted
      decision), ``alarms`` (indices of all alarms), ``detection`` (index of the first alarm
      at or after the switch, or None).
    - ``calibration_seconds``, ``rehearsal_seconds``: wall time of building and of the runs.
    """

    engine: str
    ert: float | None
    window: int | None
    runs: int
    warmup: int
    max_decisions: int
    batch_size: int
    delays: list[int | None]
    detected: int
    median_delay: float | None
    p90_delay: float | None
    false_alarms: int
    unshifted_decisions: int
    false_alarms_per_1000: float | None
    expected_false_alarms_per_1000: float | None
    detected_by: dict[str, int]
    trace: dict[str, Any]
    config: dict[str, Any]
    calibration_seconds: float
    rehearsal_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The rehearsal as a JSON-able dict."""
        return asdict(self)


def _draw(
    rng: np.random.Generator, pool: int, n: int, order: Literal["random", "sequential"]
) -> IntArray:
    if order == "sequential":
        start = int(rng.integers(0, pool))
        return (start + np.arange(n, dtype=np.intp)) % pool
    if pool >= n:
        return np.asarray(rng.choice(pool, size=n, replace=False), dtype=np.intp)
    return np.asarray(rng.integers(0, pool, size=n), dtype=np.intp)


def _take(data: Data, rows: IntArray) -> Data:
    return data.iloc[rows] if isinstance(data, pd.DataFrame) else data[rows]


def _slice(data: Data, lo: int, hi: int) -> Data:
    return data.iloc[lo:hi] if isinstance(data, pd.DataFrame) else data[lo:hi]


def _quantile_delay(delays: list[int | None], q: float) -> float | None:
    if not delays:
        return None
    values = np.array([math.inf if d is None else float(d) for d in delays])
    value = float(np.quantile(values, q, method="inverted_cdf"))
    return value if math.isfinite(value) else None


def rehearse(
    monitor: OnlineEngine | OnlineDetector | str,
    reference: Data,
    stream_unshifted: Data,
    stream_shifted: Data,
    *,
    categorical: Sequence[Hashable] = (),
    ert: float = 1000.0,
    window: int = 100,
    warmup: int = 2000,
    max_decisions: int = 2000,
    runs: int = 20,
    batch_size: int = 100,
    order: Literal["random", "sequential"] = "random",
    seed: int = 0,
    cancel: threading.Event | None = None,
) -> Rehearsal:
    """Rehearse a monitor: how fast does it catch a shift, and how often does it cry wolf?

    ``monitor`` is an engine (or its name: "scipy", "alibi", "auto"), built here on
    ``reference`` with ``categorical``, ``ert``, ``window`` and ``seed``; or a detector used as
    it is (a :class:`HookMonitor`, a detector rebuilt from a configuration), then those
    settings are not used. ``stream_unshifted`` must not share rows with ``reference`` (use
    held-out reference rows): rows the detector was built on would look more like the
    reference than new data does. All three have the same columns (DataFrames: by name;
    arrays: by position; a (n, 1) array is one column, e.g. the model's output).

    Each of ``runs`` runs (seeded by ``seed`` and its number) restarts the detector, feeds it
    ``warmup`` rows of ``stream_unshifted`` then up to ``max_decisions`` rows of
    ``stream_shifted``, in batches of ``batch_size`` rows, stopping at the first alarm after
    the switch. Rows are drawn at random (without replacement when the stream is long enough),
    or with ``order="sequential"`` as consecutive rows from a random start (wrapping around).
    ``cancel`` is checked before each batch (and during calibration): when set,
    ``prodready.probes.ProbeCancelled`` is raised. A hook breaking its contract raises
    :class:`MonitorHookError`; what a hook itself raises propagates unchanged.
    """
    warmup = _check_int(warmup, "warmup", 0)
    max_decisions = _check_int(max_decisions, "max_decisions", 1)
    runs = _check_int(runs, "runs", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    if order not in ("random", "sequential"):
        raise UsageError(f"order must be 'random' or 'sequential', got {order!r}")
    for what, data, needed in (
        ("unshifted stream", stream_unshifted, warmup),
        ("shifted stream", stream_shifted, max_decisions),
    ):
        _columns(data, what)
        if needed and _n_rows(data) == 0:
            raise DataError(f"the {what} has no rows")
    _check_cancel(cancel)

    start = time.perf_counter()
    if isinstance(monitor, str):
        monitor = get_online_engine(monitor)
    calibrated = hasattr(monitor, "build")
    detector: OnlineDetector
    if calibrated:
        engine = cast(OnlineEngine, monitor)
        detector = engine.build(
            reference, categorical=categorical, ert=ert, window=window, seed=seed, cancel=cancel
        )
    else:
        detector = cast(OnlineDetector, monitor)
    calibration_seconds = time.perf_counter() - start

    start = time.perf_counter()
    threshold = float(detector.threshold)
    delays: list[int | None] = []
    false_alarms = 0
    detected_by: Counter[str] = Counter()
    trace: dict[str, Any] = {}
    n_unshifted, n_shifted = _n_rows(stream_unshifted), _n_rows(stream_shifted)
    for run in range(runs):
        _check_cancel(cancel)
        rng = np.random.default_rng([seed, run])
        detector.reset()
        first_run = run == 0
        statistics: list[float] = []
        alarms: list[int] = []
        fed = 0
        if warmup:
            rows = _take(stream_unshifted, _draw(rng, n_unshifted, warmup, order))
            for lo in range(0, warmup, batch_size):
                _check_cancel(cancel)
                stats = detector.update(_slice(rows, lo, min(lo + batch_size, warmup)))
                hits = [i for i, s in enumerate(stats) if s > threshold]
                false_alarms += len(hits)
                if first_run:
                    statistics += stats
                    alarms += [fed + i for i in hits]
                fed += len(stats)
        rows = _take(stream_shifted, _draw(rng, n_shifted, max_decisions, order))
        delay: int | None = None
        shifted_fed = 0
        for lo in range(0, max_decisions, batch_size):
            _check_cancel(cancel)
            stats = detector.update(_slice(rows, lo, min(lo + batch_size, max_decisions)))
            hit = next((i for i, s in enumerate(stats) if s > threshold), None)
            if first_run:
                kept = stats if hit is None else stats[: hit + 1]
                statistics += kept
                if hit is not None:
                    alarms.append(fed + hit)
                fed += len(kept)
            if hit is not None:
                delay = shifted_fed + hit + 1
                detected_by.update(getattr(detector, "last_alarm", []) or [])
                break
            shifted_fed += len(stats)
        delays.append(delay)
        if first_run:
            trace = {
                "statistic": _json_floats(statistics),
                "threshold": threshold,
                "switch": warmup,
                "alarms": alarms,
                "detection": None if delay is None else warmup + delay - 1,
            }
    rehearsal_seconds = time.perf_counter() - start

    unshifted_decisions = runs * warmup
    det_ert = getattr(detector, "ert", None) if not calibrated else ert
    expected_ert = getattr(detector, "expected_ert", det_ert)
    return Rehearsal(
        engine=detector.name,
        ert=None if det_ert is None else float(det_ert),
        window=getattr(detector, "window", None),
        runs=runs,
        warmup=warmup,
        max_decisions=max_decisions,
        batch_size=batch_size,
        delays=delays,
        detected=sum(d is not None for d in delays),
        median_delay=_quantile_delay(delays, 0.5),
        p90_delay=_quantile_delay(delays, 0.9),
        false_alarms=false_alarms,
        unshifted_decisions=unshifted_decisions,
        false_alarms_per_1000=(
            1000.0 * false_alarms / unshifted_decisions if unshifted_decisions else None
        ),
        expected_false_alarms_per_1000=None if expected_ert is None else 1000.0 / expected_ert,
        detected_by=dict(detected_by),
        trace=trace,
        config=detector.config(),
        calibration_seconds=calibration_seconds,
        rehearsal_seconds=rehearsal_seconds,
    )


# --------------------------------------------------------------------------------------------


def get_online_engine(name: str) -> OnlineEngine:
    """An online drift engine by name: "scipy", "alibi", or "auto".

    "auto" is the alibi engine when alibi-detect is installed (checked without importing it),
    else the scipy engine. Asking for "alibi" without alibi-detect raises
    :class:`~prodready.MissingDependencyError` with the install hint; an unknown name raises
    :class:`~prodready.UsageError`.
    """
    alibi_installed = importlib.util.find_spec("alibi_detect") is not None
    if name == "scipy" or (name == "auto" and not alibi_installed):
        return ScipyOnlineEngine()
    if name == "auto" or (name == "alibi" and alibi_installed):
        return AlibiOnlineEngine()
    if name == "alibi":
        raise MissingDependencyError("alibi-detect", "alibi", "the alibi online drift engine")
    raise UsageError(
        f"unknown online drift engine {name!r}: expected one of {', '.join(_ENGINE_NAMES)}"
    )
