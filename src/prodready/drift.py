"""Data drift detection: has the data a model sees in production moved away from its reference?

Each column of the reference frame is tested on its own, comparing the reference sample with
the current one:

* numeric columns with the two-sample Kolmogorov-Smirnov (KS) test, two-sided;
* columns named in ``categorical`` with a chi-square test of homogeneity on the category counts
  (categories = union of both sides, so a category seen only in the current data is evidence of
  drift).

With one test per feature, some features would be flagged by chance alone; the engines therefore
control the family-wise error rate with a Bonferroni correction: a feature is *significant* when
its p-value is below ``alpha / number of features tested``.

Significance is not size: at 100k rows per side a shift of a few hundredths of a standard
deviation is significant. Every feature therefore also gets effect sizes, computed the same way
(by the same code, from the same data) whatever the engine:

* the Population Stability Index (PSI), ``sum((cur - ref) * ln(cur / ref))`` over the shares of
  rows per bin. The bins are fixed from the reference: for numbers, ``psi_bins`` (default 10)
  quantile bins of the reference values (tied edges merged; values below or above the reference
  range fall in the first or last bin; a constant reference gets bins below, at and above its
  value instead of a single bin); for categories, one bin per reference category and one
  for all categories unseen in the reference; in both cases one more bin for missing values, so
  that a feature that becomes mostly missing has a large PSI. Shares are floored at
  :data:`PSI_EPSILON` (1e-4) so that a bin empty on one side gives a large, finite term. Usual
  reading (:func:`psi_band`): below 0.1 stable, 0.1 to 0.25 moderate shift, 0.25 or more major
  shift.
* for numeric features, the normalised Wasserstein distance: the 1-Wasserstein (earth mover's)
  distance between the two empirical distributions of the non-missing values, divided by the
  standard deviation of the reference values: "how far, in reference standard deviations, the
  values moved on average".

A feature is *drifted* (flagged) when it is significant **and** its PSI reaches the report's
``min_psi`` (default 0.1); ``min_psi=0`` flags every significant feature. Both numbers are kept,
so "significant but tiny" stays visible.

Two engines compute the tests behind one interface (:class:`DriftEngine`):

* :class:`ScipyEngine` (``"scipy"``), always available, and fast: a few seconds for 25 columns
  of a million rows per side on two cores.
* :class:`AlibiEngine` (``"alibi"``), a wrapper around ``alibi_detect.cd.TabularDrift`` from the
  optional ``alibi`` extra. alibi-detect is licensed under the Business Source License 1.1:
  production use needs a commercial licence from Seldon.

Missing values (NaN, None, NaT, pd.NA) are dropped per column, on each side, before testing (and
before the Wasserstein distance); the PSI counts them in their own bin. When one side of a column
has no values left, nothing can be tested: its statistic, p-value and Wasserstein distance are
NaN and it is not flagged.

Use :func:`get_engine` to pick an engine by name.

Data larger than memory: :func:`detect_columns` runs the scipy engine's tests one column at a
time on two :class:`ColumnSource` sides (a Parquet dataset, :class:`prodready.datasets.
ParquetSource`, or a DataFrame): every column is read, one side after the other, tested and
freed, two columns at a time by default, so the peak memory is a few copies of the widest
column rather than the table; the results are those of :class:`ScipyEngine` on the whole
table, bit for bit. Categorical columns are counted in batches (exact). A numeric column of
one side larger than ``max_column_bytes`` (as float64) is tested on a *sketch* instead: a
Bernoulli sample of its rows chosen by a hash of the row's number and a seed (mergeable: the
sketch of a dataset is the union of its parts' sketches), with the DKW error bound
``|KS on the sketch - KS on all rows| <= eps_ref + eps_cur``,
``eps = sqrt(ln(2 / delta) / (2 m))`` for ``m`` sampled values, with probability at least
``1 - 2 delta`` (see :func:`detect_columns`); :attr:`FeatureDrift.sketch` says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import numbers
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._env import environ_set
from prodready._exceptions import DataError, MissingDependencyError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_MIN_PSI",
    "DEFAULT_PSI_BINS",
    "PSI_EPSILON",
    "AlibiEngine",
    "ColumnSource",
    "DriftEngine",
    "DriftReport",
    "FeatureDrift",
    "FrameColumns",
    "KsSketch",
    "ScipyEngine",
    "detect_columns",
    "get_engine",
    "psi_band",
    "quiet_alibi_import",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Sorted non-missing values of a column: float64, or int64 keys that sort the same way.
SortedArray = FloatArray | IntArray

#: Up to this many values on the larger side, KS p-values are exact (as scipy's ks_2samp
#: ``method="auto"`` does); above it they come from the asymptotic Kolmogorov distribution.
KS_EXACT_MAX_N = 10_000

_ENGINE_NAMES = ("scipy", "alibi", "auto")

#: Default ``min_psi`` of :meth:`DriftEngine.detect`: a significant feature is flagged only from
#: a moderate shift on (the usual PSI band limit).
DEFAULT_MIN_PSI = 0.1
#: Default number of quantile bins of a numeric feature's PSI (deciles of the reference).
DEFAULT_PSI_BINS = 10
#: Floor of the share of rows in a PSI bin, on either side: a bin empty on one side (a category
#: that appears, a range the reference never reached, missing values that appear) then adds a
#: large but finite term, at most about ``share * ln(share / PSI_EPSILON)`` (0.46 for 5 % of the
#: rows). Shares are not renormalised after the floor.
PSI_EPSILON = 1e-4


def psi_band(
    psi: float, moderate: float = 0.1, major: float = 0.25
) -> Literal["stable", "moderate", "major"]:
    """The usual reading of a PSI: "stable" below ``moderate`` (0.1), "moderate" from
    ``moderate`` to below ``major`` (0.25), "major" from ``major`` on.

    A NaN PSI (a side without any row: nothing to compare) reads "stable", as an untestable
    feature is never flagged. Raises :class:`~prodready.UsageError` unless
    ``0 <= moderate <= major``.
    """
    if not 0.0 <= moderate <= major:
        raise UsageError(
            f"PSI bands need 0 <= moderate <= major, got moderate={moderate!r}, major={major!r}"
        )
    if psi >= major:
        return "major"
    if psi >= moderate:
        return "moderate"
    return "stable"


# Default of FeatureDrift.significant: "same as drifted", filled in by __post_init__.
_SAME_AS_DRIFTED = cast(bool, None)


@dataclass
class FeatureDrift:
    """The drift test and effect sizes of one feature (column).

    ``kind`` is how the column was treated ("numeric" or "categorical") and ``test`` the test
    used for it ("ks": two-sample Kolmogorov-Smirnov; "chi2": chi-square test of homogeneity).
    ``statistic`` is the test statistic (KS: the largest distance between the two empirical
    distribution functions, in [0, 1]; chi2: Pearson's chi-square, >= 0) and ``p_value`` the
    probability of a difference at least this large if both samples came from the same
    distribution. Both are NaN when one side had no non-missing value.

    ``significant`` is ``p_value < threshold`` of the report (Bonferroni-corrected), False when
    p_value is NaN. ``drifted`` is the flag: significant and ``psi >= min_psi`` of the report.

    Effect sizes (see the module documentation): ``psi`` is the Population Stability Index on
    bins fixed from the reference, missing values in a bin of their own (>= 0; NaN only when a
    side has no row at all). ``wasserstein`` is the 1-Wasserstein distance between the
    non-missing values of both sides divided by the reference's standard deviation (population
    standard deviation, ddof=0); NaN for categorical features, when a side has no non-missing
    value, or when a value is infinite (the distance is then undefined or infinite); when the
    reference is constant (standard deviation 0) it is 0 if the current values are that same
    constant, else infinity.

    Built by hand without them (the fields of earlier versions), ``psi`` and ``wasserstein``
    are NaN and ``significant`` equals ``drifted``.

    ``sketch`` is None when the test ran on every value (always, for data in memory); else
    the :class:`KsSketch` the numeric column was tested on (see :func:`detect_columns`), with
    the bound of its KS statistic's error.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    statistic: float
    p_value: float
    drifted: bool
    psi: float = math.nan
    wasserstein: float = math.nan
    significant: bool = _SAME_AS_DRIFTED
    sketch: KsSketch | None = None

    def __post_init__(self) -> None:
        if cast(object, self.significant) is None:
            self.significant = self.drifted


@dataclass(frozen=True)
class KsSketch:
    """How a numeric feature too large for memory was tested: on a mergeable sample sketch.

    ``reference_rows`` and ``current_rows`` are the rows of each side the sketch kept
    (missing values included), of ``reference_total`` and ``current_total`` rows; a side that
    fitted in memory is kept whole (its rows equal its total, and it adds no error).
    ``ks_error_bound`` is the bound of ``|KS on the sketch - KS on all rows|``, which holds
    with probability at least ``confidence`` (see :func:`detect_columns`). The p-value is the
    test's on the sketch (fewer rows: less power); PSI and Wasserstein are the sketch's
    estimates, without a stated bound.
    """

    reference_rows: int
    current_rows: int
    reference_total: int
    current_total: int
    ks_error_bound: float
    confidence: float

    def describe(self) -> str:
        """In words, for findings: "from a sketch of 1,000,000 of 50,000,000 reference rows
        ...: |KS error| <= 0.0021 with probability >= 0.998"."""
        sides = [
            f"{kept:,} of {total:,} {which} rows"
            for which, kept, total in (
                ("reference", self.reference_rows, self.reference_total),
                ("current", self.current_rows, self.current_total),
            )
            if kept < total
        ]
        return (
            f"from a sketch of {' and '.join(sides)}: |KS error| <= {self.ks_error_bound:.4f} "
            f"with probability >= {self.confidence:.3f}"
        )


@dataclass
class DriftReport:
    """The result of one drift check over all the features of the reference data.

    ``engine`` names the engine that computed it ("scipy" or "alibi"); ``alpha`` is the
    family-wise significance level asked for: the chance of finding at least one feature
    significant when nothing drifted is at most ``alpha``. ``correction`` is the multiple-testing
    correction used ("bonferroni") and ``threshold`` the resulting per-feature level,
    ``alpha / len(features)`` (``alpha`` itself when there are no features). ``features`` holds
    one result per column of the reference data, in its column order.

    ``min_psi`` is the effect a significant feature must reach to be flagged (drifted): its PSI
    must be at least this (0: every significant feature is flagged, as before effect sizes
    existed; the default of reports built by hand without it). ``psi_bins`` is the number of
    quantile bins of numeric PSIs.
    """

    engine: str
    alpha: float
    correction: str
    threshold: float
    features: list[FeatureDrift]
    min_psi: float = 0.0
    psi_bins: int = DEFAULT_PSI_BINS

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted (flagged) features, in input (reference column) order."""
        return [f.feature for f in self.features if f.drifted]

    @property
    def significant(self) -> list[str]:
        """Names of the significant features, flagged or not, in input order."""
        return [f.feature for f in self.features if f.significant]


class DriftEngine(Protocol):
    """What every drift engine offers: a ``name`` and :meth:`detect`."""

    name: str

    def detect(
        self,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        *,
        categorical: Sequence[str] = (),
        alpha: float = 0.05,
        min_psi: float = DEFAULT_MIN_PSI,
        psi_bins: int = DEFAULT_PSI_BINS,
    ) -> DriftReport:
        """Test every column of ``reference`` for drift in ``current``, with effect sizes.

        ``categorical`` names the columns to treat as categories (chi-square test); all others
        are numeric (KS test). ``alpha`` is the family-wise significance level. A significant
        feature is flagged (``drifted``) when its PSI is at least ``min_psi`` (>= 0; 0 flags
        every significant feature). ``psi_bins`` (>= 2) is the number of quantile bins of the
        reference for numeric PSIs. Raises :class:`~prodready.DataError` when ``current`` lacks
        a column of ``reference``, a ``categorical`` name is not a reference column, or a
        non-categorical column is not numeric; :class:`~prodready.UsageError` for a bad
        ``alpha``, ``min_psi`` or ``psi_bins``.
        """
        ...


# --------------------------------------------------------------------------------------------
# Shared preparation and checks


@dataclass
class _Plan:
    """Which columns to test and how; built once per detect() call by :func:`_plan`."""

    columns: list[Any]
    categorical: set[Any]
    alpha: float
    threshold: float
    min_psi: float
    psi_bins: int

    def feature(
        self,
        col: Any,
        stat: float,
        p: float,
        psi: float,
        wasserstein: float = math.nan,
        *,
        effect_sizes: bool = True,
    ) -> FeatureDrift:
        """The result of column ``col``, flagged by this plan's threshold and ``min_psi``.

        Without ``effect_sizes`` (benchmarks only), the flag is significance alone.
        """
        significant = _flag(p, self.threshold)
        drifted = significant and (not effect_sizes or self.min_psi <= 0 or psi >= self.min_psi)
        if col in self.categorical:
            return FeatureDrift(
                str(col), "categorical", "chi2", stat, p, drifted, psi, math.nan, significant
            )
        return FeatureDrift(
            str(col), "numeric", "ks", stat, p, drifted, psi, wasserstein, significant
        )

    def report(self, engine: str, features: list[FeatureDrift]) -> DriftReport:
        return DriftReport(
            engine=engine,
            alpha=self.alpha,
            correction="bonferroni",
            threshold=self.threshold,
            features=features,
            min_psi=self.min_psi,
            psi_bins=self.psi_bins,
        )


def _plan(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    categorical: Sequence[str],
    alpha: float,
    min_psi: float,
    psi_bins: int,
) -> _Plan:
    _check_parameters(categorical, alpha, min_psi, psi_bins)
    if not isinstance(reference, pd.DataFrame) or not isinstance(current, pd.DataFrame):
        raise DataError("drift detection needs two pandas DataFrames (reference and current)")
    columns = list(reference.columns)
    if reference.columns.has_duplicates:
        dup = sorted({str(c) for c in reference.columns[reference.columns.duplicated()]})
        raise DataError(f"the reference data has duplicated column names: {', '.join(dup)}")
    missing = [c for c in columns if c not in current.columns]
    if missing:
        raise DataError(
            "the current data lacks column(s) of the reference data: "
            + ", ".join(repr(c) for c in missing)
        )
    if current.columns.has_duplicates:
        tested = set(columns)
        dup = sorted({str(c) for c in current.columns[current.columns.duplicated()] if c in tested})
        if dup:
            raise DataError(f"the current data has duplicated column names: {', '.join(dup)}")
    cats = set(categorical)
    unknown = [c for c in categorical if c not in reference.columns]
    if unknown:
        raise DataError(
            "categorical column(s) not in the reference data: "
            + ", ".join(repr(c) for c in unknown)
        )
    for col in columns:
        if col in cats:
            continue
        for side, frame in (("reference", reference), ("current", current)):
            if not _is_numeric(frame[col]):
                raise DataError(
                    f"column {col!r} of the {side} data has dtype {frame[col].dtype}, which the "
                    "KS test cannot handle: list it in `categorical` if it holds categories"
                )
    threshold = alpha / len(columns) if columns else float(alpha)
    return _Plan(
        columns=columns,
        categorical=cats,
        alpha=float(alpha),
        threshold=threshold,
        min_psi=float(min_psi),
        psi_bins=int(psi_bins),
    )


def _check_parameters(
    categorical: Sequence[str], alpha: float, min_psi: float, psi_bins: int
) -> None:
    """A UsageError for a bad ``categorical`` (a bare string), alpha, min_psi or psi_bins."""
    if isinstance(categorical, str):
        # A bare string would silently be read as a list of one-letter column names.
        raise UsageError(
            f"categorical must be a list of column names, not the string {categorical!r}"
        )
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    if (
        isinstance(min_psi, bool)
        or not isinstance(min_psi, numbers.Real)
        or not 0.0 <= min_psi < math.inf
    ):
        raise UsageError(f"min_psi must be a finite number >= 0, got {min_psi!r}")
    if isinstance(psi_bins, bool) or not isinstance(psi_bins, numbers.Integral) or psi_bins < 2:
        raise UsageError(f"psi_bins must be a whole number >= 2, got {psi_bins!r}")


def _is_numeric(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_bool_dtype(dtype):
        return True
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not pd.api.types.is_complex_dtype(dtype)


def _column_floats(series: pd.Series) -> FloatArray:
    """The column as float64, missing values as NaN; a view when the column is float64 already."""
    if series.dtype == np.float64:
        return np.asarray(series.to_numpy(), dtype=np.float64)
    # ints, bools, float32, nullable dtypes (pd.NA): converting copies anyway.
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _sort_floats(values: FloatArray) -> FloatArray:
    """Sorted copy of ``values`` without its NaNs."""
    out = np.sort(values)
    # NaN sorts last, and searchsorted orders it the same way: this finds the first NaN without
    # a mask over the whole column.
    return out[: int(np.searchsorted(out, np.nan, side="left"))]


_SIGN_MASK = np.int64(0x7FFF_FFFF_FFFF_FFFF)
#: Values per chunk of the linear passes that run in chunks to stay in the CPU cache.
_CHUNK = 1 << 14


def _float_keys(values: FloatArray) -> IntArray:
    """int64 keys in the same order as the float64 ``values`` (sign-magnitude to two's
    complement), with -0.0 and +0.0 both mapped to 0.

    NaNs map beyond the keys of -inf and +inf (either side, by their sign bit).
    """
    bits = values.view(np.int64)
    sign = bits >> 63  # 0 or -1
    keys = bits & _SIGN_MASK
    keys ^= sign
    keys -= sign  # negates the magnitude where the sign bit was set
    return keys


def _float_keys_in_place(values: FloatArray) -> IntArray:
    """:func:`_float_keys` of ``values``, written over them (no second array of their size)."""
    keys = values.view(np.int64)
    for start in range(0, keys.shape[0], _CHUNK):
        part = keys[start : start + _CHUNK]
        sign = part >> 63
        part &= _SIGN_MASK
        part ^= sign
        part -= sign
    return keys


def _keys_to_floats_in_place(keys: IntArray) -> FloatArray:
    """:func:`_keys_to_floats` of ``keys``, written over them."""
    for start in range(0, keys.shape[0], _CHUNK):
        part = keys[start : start + _CHUNK]
        sign = part >> 63
        part ^= sign
        part -= sign
        sign &= ~_SIGN_MASK
        part |= sign
    return keys.view(np.float64)


def _keys_to_floats(keys: IntArray) -> FloatArray:
    """Inverse of :func:`_float_keys` (-0.0 comes back as +0.0), as a fresh array.

    In chunks that stay in the CPU cache: one read and one write of memory per value.
    """
    bits = np.empty(keys.shape[0], dtype=np.int64)
    for start in range(0, keys.shape[0], _CHUNK):
        part, out = keys[start : start + _CHUNK], bits[start : start + _CHUNK]
        sign = part >> 63
        np.bitwise_xor(part, sign, out=out)
        out -= sign
        sign &= ~_SIGN_MASK
        out |= sign
    return bits.view(np.float64)


def _as_floats(values: SortedArray) -> FloatArray:
    if values.dtype == np.int64:
        return _keys_to_floats(cast(IntArray, values))
    return cast(FloatArray, values)


_KEY_NEG_INF = _float_keys(np.array([-np.inf]))[0]
_KEY_POS_INF = _float_keys(np.array([np.inf]))[0]

# numpy < 2 sorts int64 ~30 % faster than float64 (measured on AVX2: its float compare is
# NaN-aware); numpy >= 2 has SIMD sorts for both, so floats are sorted directly there.
_SORT_AS_INT = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _sorted_values(series: pd.Series, *, as_keys: bool) -> SortedArray:
    """The column's non-missing values sorted, as a fresh array.

    float64 values, or with ``as_keys`` their int64 keys (:func:`_float_keys`), which sort
    faster with numpy < 2: both give the same KS statistic, which depends only on order and
    equality. Both sides of a test must use the same representation.
    """
    values = _column_floats(series)
    if not as_keys:
        return _sort_floats(values)
    return _sorted_keys(values)


def _sorted_keys(values: FloatArray) -> IntArray:
    """The sorted int64 keys (:func:`_float_keys`) of the non-missing ``values``."""
    keys = _float_keys(values)
    keys.sort()
    lo = int(np.searchsorted(keys, _KEY_NEG_INF, side="left"))
    hi = int(np.searchsorted(keys, _KEY_POS_INF, side="right"))
    return keys[lo:hi]


def _category_counts(
    reference: pd.Series, current: pd.Series
) -> tuple[list[Any], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Category labels seen on either side (reference order first) and their counts per side.

    Categories declared by a pandas Categorical but absent from both samples are left out: they
    carry no information and would put zeros in the expected counts.
    """
    return _aligned_counts(
        reference.value_counts(dropna=True, sort=False),
        current.value_counts(dropna=True, sort=False),
    )


def _aligned_counts(
    ref_vc: pd.Series, cur_vc: pd.Series
) -> tuple[list[Any], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`_category_counts` from each side's ``value_counts(dropna=True, sort=False)``."""
    # Plain object labels, so that Categoricals with different category sets still align.
    ref_vc.index = pd.Index(list(ref_vc.index), dtype=object)
    cur_vc.index = pd.Index(list(cur_vc.index), dtype=object)
    labels = ref_vc.index.append(cur_vc.index[~cur_vc.index.isin(ref_vc.index)])
    ref_counts = np.asarray(ref_vc.reindex(labels, fill_value=0), dtype=np.int64)
    cur_counts = np.asarray(cur_vc.reindex(labels, fill_value=0), dtype=np.int64)
    seen = (ref_counts + cur_counts) > 0
    return (
        [label for label, keep in zip(labels, seen, strict=True) if keep],
        ref_counts[seen],
        cur_counts[seen],
    )


def _flag(p_value: float, threshold: float) -> bool:
    # NaN compares False, so an untestable feature is never flagged.
    return bool(p_value < threshold)


# --------------------------------------------------------------------------------------------
# Effect sizes: one implementation for both engines, on sorted values and category counts


def _psi(ref_counts: IntArray, cur_counts: IntArray) -> float:
    """PSI of two aligned arrays of row counts per bin, all rows of each side counted.

    Shares are floored at :data:`PSI_EPSILON` (not renormalised): a bin empty on both sides adds
    exactly 0. Each term ``(cur - ref) * ln(cur / ref)`` is >= 0, so the PSI is too. NaN when a
    side has no row at all.
    """
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    if n_ref == 0 or n_cur == 0:
        return math.nan
    ref = np.maximum(ref_counts / n_ref, PSI_EPSILON)
    cur = np.maximum(cur_counts / n_cur, PSI_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _quantile_edges(x: SortedArray, bins: int) -> SortedArray:
    """Inner edges of the reference's quantile bins, from its sorted non-missing values ``x``.

    Edge ``j`` (1 .. bins - 1) is the ``j / bins`` quantile by the inverted empirical
    distribution function, ``x[ceil(j n / bins) - 1]``: a value of the reference. Tied edges are
    merged and edges equal to the maximum dropped, so that with right-closed bins
    (:func:`_bin_counts`) no bin is empty in the reference. Works on int64 keys as on floats.
    """
    n = x.shape[0]
    if n == 0:
        return x[:0]
    j = np.arange(1, bins, dtype=np.int64)
    edges = np.unique(x[(j * n + bins - 1) // bins - 1])
    return cast(SortedArray, edges[edges < x[-1]])


def _bin_counts(values: SortedArray, edges: SortedArray) -> IntArray:
    """Counts of sorted ``values`` in (-inf, e0], (e0, e1], ..., (e_last, +inf)."""
    cum = np.searchsorted(values, edges, side="right").astype(np.int64)
    return np.diff(cum, prepend=0, append=values.shape[0])


def _wasserstein_sorted(x: FloatArray, y: FloatArray) -> float:
    """1-Wasserstein distance between the empirical distributions of two sorted, finite,
    non-empty float arrays, in O(n1 + n2) without sorting or searching.

    W1 is the integral over p in (0, 1) of ``|Qx(p) - Qy(p)|`` (Q: quantile functions, step
    functions with steps at i / n1 and j / n2). On a grid of ``L = lcm(n1, n2)`` steps, with
    ``a = L / n2`` and ``b = L / n1``, the step i of x is at ``i b`` and the step j of y at
    ``j a``; between consecutive steps both quantile functions are constant. Each segment
    starts at a step of x or of y (steps of both at one point: x first, the x segment has width
    0), and its partner index and width follow from integer arithmetic:

    * from step i of x: ``x[i]`` against ``y[q - 1]``, ``q = ceil(i b / a)``, width
      ``min(b, q a - i b)``;
    * from step j of y: ``x[r]`` against ``y[j]``, ``r = floor(j a / b)``, width
      ``min(a, (r + 1) b - j a)``.

    With equal sizes this is the mean of ``|x[i] - y[i]|``. The integers stay below
    ``n1 * n2 / gcd(n1, n2) + n1 + n2``: exact in int64 up to about 3 billion values per side.
    """
    n1, n2 = int(x.shape[0]), int(y.shape[0])
    total = 0.0
    # In cache-sized chunks: ~2x faster than whole-array temporaries (fewer cache misses and
    # page faults).
    if n1 == n2:
        for start in range(0, n1, _CHUNK):
            diff = np.subtract(x[start : start + _CHUNK], y[start : start + _CHUNK])
            np.abs(diff, out=diff)
            total += float(diff.sum())
        return total / n1
    g = math.gcd(n1, n2)
    a, b = n1 // g, n2 // g
    for start in range(0, n1, _CHUNK):  # segments from the steps of x
        stop = min(start + _CHUNK, n1)
        pos = np.arange(start * b, stop * b, b, dtype=np.int64)
        idx = pos + (a - 1)
        idx //= a
        width = idx * a
        width -= pos
        np.minimum(width, b, out=width)
        idx -= 1  # -1 at i = 0, where the width is 0: clipped to a valid index
        diff = y.take(idx, mode="clip")
        np.subtract(x[start:stop], diff, out=diff)
        np.abs(diff, out=diff)
        total += float(np.dot(width.astype(np.float64), diff))
    for start in range(0, n2, _CHUNK):  # segments from the steps of y
        stop = min(start + _CHUNK, n2)
        pos = np.arange(start * a, stop * a, a, dtype=np.int64)
        idx = pos // b
        width = idx + 1
        width *= b
        width -= pos
        np.minimum(width, a, out=width)
        diff = x.take(idx)
        diff -= y[start:stop]
        np.abs(diff, out=diff)
        total += float(np.dot(width.astype(np.float64), diff))
    return total / (n1 * b)


def _normalised_wasserstein(x: FloatArray, y: FloatArray) -> float:
    """W1 of two sorted NaN-free float arrays divided by the standard deviation of ``x`` (ddof 0).

    NaN when a side is empty or holds an infinite value (W1 is then undefined or infinite; scipy
    gives NaN too). A constant reference (standard deviation 0) gives 0 when ``y`` is that
    constant too, infinity otherwise.
    """
    if x.shape[0] == 0 or y.shape[0] == 0:
        return math.nan
    if not (
        math.isfinite(x[0])
        and math.isfinite(x[-1])
        and math.isfinite(y[0])
        and math.isfinite(y[-1])
    ):
        return math.nan
    distance = _wasserstein_sorted(x, y)
    if x[0] == x[-1]:  # constant: its computed std could be a rounding error away from 0
        return 0.0 if distance == 0.0 else math.inf
    return distance / _std(x)


def _std(x: FloatArray) -> float:
    """Population standard deviation (ddof 0) of a non-empty float array, as ``np.std`` computes
    it (mean first, then squared deviations), in cache-sized chunks."""
    mean = float(x.sum()) / x.shape[0]
    total = 0.0
    for start in range(0, x.shape[0], _CHUNK):
        dev = x[start : start + _CHUNK] - mean
        total += float(np.dot(dev, dev))
    return math.sqrt(total / x.shape[0])


def _numeric_effects(
    x: SortedArray, y: SortedArray, n_ref: int, n_cur: int, bins: int
) -> tuple[float, float]:
    """(PSI, normalised Wasserstein distance) of a numeric column.

    ``x`` and ``y`` are the sorted non-missing values of the reference and current column, both
    floats or both int64 keys (:func:`_sorted_values`); ``n_ref`` and ``n_cur`` are the numbers
    of rows, missing values included (they make the PSI's missing-value bin).
    """
    n_x, n_y = x.shape[0], y.shape[0]
    if n_x and x[0] == x[-1]:
        # A constant reference has a single quantile bin, which would hide a feature that
        # starts to vary: its bins are below, at and above the constant instead.
        lo = int(np.searchsorted(y, x[:1], side="left")[0])
        hi = int(np.searchsorted(y, x[:1], side="right")[0])
        ref_counts = np.array([0, n_x, 0, n_ref - n_x], dtype=np.int64)
        cur_counts = np.array([lo, hi - lo, n_y - hi, n_cur - n_y], dtype=np.int64)
    else:
        edges = _quantile_edges(x, bins)
        ref_counts = np.append(_bin_counts(x, edges), n_ref - n_x)
        cur_counts = np.append(_bin_counts(y, edges), n_cur - n_y)
    return _psi(ref_counts, cur_counts), _normalised_wasserstein(_as_floats(x), _as_floats(y))


def _categorical_psi(ref_counts: IntArray, cur_counts: IntArray, n_ref: int, n_cur: int) -> float:
    """PSI of a categorical column from its :func:`_category_counts` and numbers of rows.

    Bins: each category of the reference, one for all categories seen only in the current data,
    one for missing values.
    """
    in_ref = ref_counts > 0
    ref_bins = np.append(ref_counts[in_ref], [0, n_ref - int(ref_counts.sum())])
    cur_bins = np.append(
        cur_counts[in_ref], [int(cur_counts[~in_ref].sum()), n_cur - int(cur_counts.sum())]
    )
    return _psi(ref_bins, cur_bins)


# --------------------------------------------------------------------------------------------
# The scipy engine


#: Values of x per chunk of :func:`_ks_statistic` (512 KiB per temporary).
_KS_CHUNK = 1 << 16


def _ks_statistic(x: SortedArray, y: SortedArray) -> float:
    """Two-sided KS distance between the empirical distributions of two sorted, NaN-free arrays.

    Both one-sided suprema are read at the points of ``x`` from one searchsorted of ``x`` into
    ``y`` (sorted queries: cache-friendly), instead of ranking all points of both samples:

    * F1 - F2 is largest where F1 jumps, at some ``x[i]``: ``(i + 1) / n1 - #(y <= x[i]) / n2``.
      For equal values ``(i + 1) / n1`` is exact at the last of them and smaller before, so the
      maximum is exact.
    * F2 - F1 is largest just before F1 jumps: ``#(y < x[i]) / n2 - i / n1`` (exact at the first
      of equal values, smaller after), or 0 past the largest value. ``#(y < x[i])`` equals
      ``#(y <= x[i])`` unless a value occurs on both sides; only then a second searchsorted runs.

    The arithmetic is scipy's, so the result is bit-identical to ``scipy.stats.ks_2samp``'s
    statistic.
    """
    n1, n2 = x.shape[0], y.shape[0]
    # In chunks of x: the temporaries stay a few MB whatever the column's size (a column of
    # 20M rows would otherwise need three more arrays of its size), and in the CPU cache. Each
    # element gets the same arithmetic as on the whole array, so the maximum is the same, bit
    # for bit. In-place arithmetic on few buffers: fresh arrays cost page faults.
    d = 0.0
    for start in range(0, n1, _KS_CHUNK):
        stop = min(start + _KS_CHUNK, n1)
        part = x[start:stop]
        # Only y[lo:hi] can rank the chunk's values (y[:lo] < part[0], y[hi:] > part[-1]):
        # searching that slice keeps the search in the CPU cache; the ranks are the same
        # integers as a search of all of y.
        lo = int(np.searchsorted(y, part[0], side="left"))
        hi = int(np.searchsorted(y, part[-1], side="right"))
        near = y[lo:hi]
        ranks = np.searchsorted(near, part, side="right")
        ranks += lo - 1
        # y[ranks - 1] is the largest y <= x[i]; the clip sends ranks == 0 to y[0] > x[i].
        frac = y.take(ranks, mode="clip")
        shared = bool(np.any(frac == part))
        ranks += 1
        # Int64 keys are no longer needed either: same size, so the memory is reused.
        frac = frac.view(np.float64)
        np.divide(ranks, n2, out=frac)
        steps = np.arange(start, stop + 1, dtype=np.float64)
        steps /= n1
        diff = ranks.view(np.float64)  # ranks is no longer needed: reuse its memory
        np.subtract(steps[1:], frac, out=diff)
        d = max(d, float(diff.max()))
        if shared:
            left = np.searchsorted(near, part, side="left")
            left += lo
            np.divide(left, n2, out=frac)
        frac -= steps[:-1]
        d = max(d, float(frac.max()))
    return d


def _ks_test(x: SortedArray, y: SortedArray) -> tuple[float, float]:
    """KS statistic and two-sided p-value of two sorted, NaN-free, non-empty arrays.

    Up to :data:`KS_EXACT_MAX_N` values on the larger side this is scipy's ks_2samp with its
    exact p-value. Above it, the p-value is the asymptotic Kolmogorov distribution at
    ``sqrt(n1 n2 / (n1 + n2)) * D`` (scipy.special.kolmogorov). scipy's own asymptotic p-value
    (``kstwo`` at the rounded effective n) costs up to a second per column at a million rows.
    Both are approximations: at 10k+ rows per side each is within a few percent (relative) of
    the exact two-sample p-value, and of the other.
    """
    from scipy import special, stats

    n1, n2 = x.shape[0], y.shape[0]
    if max(n1, n2) <= KS_EXACT_MAX_N:
        res = stats.ks_2samp(_as_floats(x), _as_floats(y), alternative="two-sided", method="auto")
        return float(res.statistic), float(res.pvalue)
    d = _ks_statistic(x, y)
    en = n1 * n2 / (n1 + n2)
    p = float(special.kolmogorov(math.sqrt(en) * d))
    return d, min(max(p, 0.0), 1.0)


def _chi2_test(
    ref_counts: npt.NDArray[np.int64], cur_counts: npt.NDArray[np.int64]
) -> tuple[float, float]:
    """Chi-square test of homogeneity of a 2 x k table of category counts.

    Same statistic and p-value as ``scipy.stats.chi2_contingency`` with its defaults, including
    Yates' continuity correction when there are two categories (one degree of freedom).
    """
    from scipy import stats

    k = ref_counts.shape[0]
    if k <= 1:
        # One category on both sides: the distributions are identical.
        return 0.0, 1.0
    observed = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    rows = observed.sum(axis=1, keepdims=True)
    cols = observed.sum(axis=0, keepdims=True)
    expected = rows * cols / observed.sum()
    if k == 2:
        diff = expected - observed
        observed = observed + np.sign(diff) * np.minimum(0.5, np.abs(diff))
    statistic = float(((observed - expected) ** 2 / expected).sum())
    p_value = float(stats.chi2.sf(statistic, k - 1))
    return statistic, p_value


class ScipyEngine:
    """Drift engine on numpy and scipy: always available, and fast on large data.

    KS tests sort each column once per side (as int64 keys with numpy < 2, where that is
    faster) and find the statistic with one searchsorted, rather than calling
    ``scipy.stats.ks_2samp``, which ranks both samples twice over their concatenation and can
    spend a second per column on its p-value at a million rows. Columns are processed on
    ``max_workers`` threads (default: the number of CPUs, at most 8), which helps because
    numpy's sort and searchsorted release the GIL. Each thread converts one column at a time,
    so the extra memory is a few column copies, never a copy of the frame.

    p-values: exact while the larger side has at most :data:`KS_EXACT_MAX_N` values (then the
    result is ``scipy.stats.ks_2samp``'s), asymptotic above; chi-square as
    ``scipy.stats.chi2_contingency`` computes it. The effect sizes reuse the sorted values and
    the category counts: PSI bins from a few searchsorted calls, the Wasserstein distance in
    linear time (no sort, no search).
    """

    name: str = "scipy"
    #: Benchmarks only: False skips the effect sizes (NaN) and flags on significance alone.
    _effect_sizes: bool = True

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise UsageError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers or min(8, os.cpu_count() or 1)

    def detect(
        self,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        *,
        categorical: Sequence[str] = (),
        alpha: float = 0.05,
        min_psi: float = DEFAULT_MIN_PSI,
        psi_bins: int = DEFAULT_PSI_BINS,
    ) -> DriftReport:
        """Test every column of ``reference`` for drift in ``current``; see :class:`DriftEngine`."""
        plan = _plan(reference, current, categorical, alpha, min_psi, psi_bins)
        effect_sizes = self._effect_sizes
        # Imported here, not at module level (0.6 s), and before the threads start, so that
        # they do not all wait on the import lock.
        from scipy import special, stats  # noqa: F401

        n_ref, n_cur = len(reference), len(current)

        def test_column(col: Any) -> FeatureDrift:
            if col in plan.categorical:
                _, ref_counts, cur_counts = _category_counts(reference[col], current[col])
                return _categorical_feature(
                    plan, col, ref_counts, cur_counts, n_ref, n_cur, effect_sizes
                )
            # Int keys only where our own statistic runs (larger side above the exact range).
            as_keys = _SORT_AS_INT and max(n_ref, n_cur) > KS_EXACT_MAX_N
            x = _sorted_values(reference[col], as_keys=as_keys)
            y = _sorted_values(current[col], as_keys=as_keys)
            return _numeric_feature(plan, col, x, y, n_ref, n_cur, effect_sizes)

        return plan.report(self.name, _map(test_column, plan.columns, self.max_workers))


def _categorical_feature(
    plan: _Plan,
    col: Any,
    ref_counts: IntArray,
    cur_counts: IntArray,
    n_ref: int,
    n_cur: int,
    effect_sizes: bool = True,
) -> FeatureDrift:
    """The chi-square test and PSI of a categorical column from its aligned category counts
    (:func:`_aligned_counts`) and the numbers of rows of each side, missing values included."""
    psi = math.nan
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        stat, p = math.nan, math.nan
    else:
        stat, p = _chi2_test(ref_counts, cur_counts)
    if effect_sizes:
        psi = _categorical_psi(ref_counts, cur_counts, n_ref, n_cur)
    return plan.feature(col, stat, p, psi, effect_sizes=effect_sizes)


def _numeric_feature(
    plan: _Plan,
    col: Any,
    x: SortedArray,
    y: SortedArray,
    n_ref: int,
    n_cur: int,
    effect_sizes: bool = True,
) -> FeatureDrift:
    """The KS test, PSI and Wasserstein distance of a numeric column from the sorted non-missing
    values of both sides (:func:`_sorted_values`) and their numbers of rows."""
    psi = wasserstein = math.nan
    if x.shape[0] == 0 or y.shape[0] == 0:
        stat, p = math.nan, math.nan
    else:
        stat, p = _ks_test(x, y)
    if effect_sizes:
        psi, wasserstein = _numeric_effects(x, y, n_ref, n_cur, plan.psi_bins)
    return plan.feature(col, stat, p, psi, wasserstein, effect_sizes=effect_sizes)


def _map(fn: Callable[[Any], FeatureDrift], items: list[Any], workers: int) -> list[FeatureDrift]:
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


# --------------------------------------------------------------------------------------------
# Column by column: data larger than memory

#: Default ``max_column_bytes`` of :func:`detect_columns`: a numeric column of one side is
#: read whole (exact test) up to 256 MiB as float64, 33,554,432 rows; above, it is sketched.
DEFAULT_MAX_COLUMN_BYTES = 256 << 20
#: Default ``sketch_delta``: the DKW bound of one sketched side fails with probability <= 0.001.
DEFAULT_SKETCH_DELTA = 1e-3
#: Smallest ``max_column_bytes``: 128 values of 8 bytes.
MIN_COLUMN_BYTES = 1024
#: Rows per batch when a column is read in batches (8 MiB of float64).
BATCH_ROWS = 1 << 20


class ColumnSource(Protocol):
    """One side of a drift test, read one column at a time (a Parquet dataset, or a frame).

    ``num_rows`` counts every row. :meth:`columns` lists the column names; :meth:`is_numeric`
    says whether a column holds numbers (integers, floats, booleans) and :meth:`type_name` its
    type in words. :meth:`floats` returns a whole column as a fresh float64 array the caller
    may modify (missing values as NaN); :meth:`float_batches` the same values in row order, a
    batch at a time; :meth:`value_counts` the counts of the non-missing values, in order of
    first appearance (what ``Series.value_counts(dropna=True, sort=False)`` gives).
    """

    @property
    def num_rows(self) -> int:
        """Number of rows, missing values included."""
        ...

    def columns(self) -> list[str]:
        """The column names, in order."""
        ...

    def is_numeric(self, name: str) -> bool:
        """Whether column ``name`` holds numbers (the KS test applies)."""
        ...

    def type_name(self, name: str) -> str:
        """The type of column ``name`` in words, for messages."""
        ...

    def floats(self, name: str) -> FloatArray:
        """Column ``name`` whole, as a fresh float64 array (missing values NaN)."""
        ...

    def float_batches(self, name: str) -> Iterator[FloatArray]:
        """Column ``name`` as float64 arrays (missing values NaN), in row order."""
        ...

    def value_counts(self, name: str) -> pd.Series:
        """Counts of the non-missing values of column ``name``, in order of first appearance."""
        ...


class FrameColumns:
    """A DataFrame as a :class:`ColumnSource`: one side in memory, the other from Parquet."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    @property
    def num_rows(self) -> int:
        """Number of rows of the frame."""
        return len(self.frame)

    def columns(self) -> list[str]:
        """The frame's column names."""
        return [str(c) for c in self.frame.columns]

    def is_numeric(self, name: str) -> bool:
        """Whether the column holds numbers (as :class:`ScipyEngine` decides)."""
        return _is_numeric(self.frame[name])

    def type_name(self, name: str) -> str:
        """The column's pandas dtype."""
        return str(self.frame[name].dtype)

    def floats(self, name: str) -> FloatArray:
        """A float64 copy of the column (never a view of the frame: the caller sorts it)."""
        return np.array(_column_floats(self.frame[name]), dtype=np.float64, copy=True)

    def float_batches(self, name: str) -> Iterator[FloatArray]:
        """The column, as one batch (it is in memory already)."""
        yield _column_floats(self.frame[name])

    def value_counts(self, name: str) -> pd.Series:
        """``value_counts(dropna=True, sort=False)`` of the column."""
        return self.frame[name].value_counts(dropna=True, sort=False)


def detect_columns(
    reference: ColumnSource | pd.DataFrame,
    current: ColumnSource | pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    alpha: float = 0.05,
    min_psi: float = DEFAULT_MIN_PSI,
    psi_bins: int = DEFAULT_PSI_BINS,
    max_column_bytes: int = DEFAULT_MAX_COLUMN_BYTES,
    sketch_delta: float = DEFAULT_SKETCH_DELTA,
    seed: int = 0,
    max_workers: int = 2,
) -> DriftReport:
    """Drift of every column in ``columns`` (default: all of the reference), one column at a time.

    For data larger than memory: each side is a :class:`ColumnSource` (a Parquet dataset,
    :class:`prodready.datasets.ParquetSource`, or a DataFrame). Each column is read, one side
    after the other, tested, and freed before the next; ``max_workers`` columns (default 2) are
    in flight at a time, so the peak memory is bounded by a few copies of the widest column,
    not by the table.

    * A categorical column is counted (in batches for Parquet) and tested exactly as
      :class:`ScipyEngine` tests it: same chi-square, same PSI.
    * A numeric column whose side holds at most ``max_column_bytes`` as float64
      (``8 * rows``) is read whole and tested by the same code as :class:`ScipyEngine`:
      the statistic, p-value, PSI and Wasserstein distance are those of the whole table.
    * Above ``max_column_bytes`` that side is read in batches into a *sketch*: a Bernoulli
      sample of its rows, kept when a hash (splitmix64) of the row's number and ``seed`` falls
      below ``max_column_bytes / 8 / rows`` of the hash range, so about ``max_column_bytes / 8``
      rows are kept. Whether a row is kept depends only on its number and the seed: the sketch
      of a dataset is the union of the sketches of its parts (mergeable: files, row groups and
      batches can be sketched apart), and a run is repeatable. The test runs on the sketch.
      Error bound: the sketch's empirical distribution function is within
      ``eps = sqrt(ln(2 / sketch_delta) / (2 m))`` of the whole column's everywhere with
      probability at least ``1 - sketch_delta`` (the Dvoretzky-Kiefer-Wolfowitz inequality
      with Massart's constant, for ``m`` non-missing sampled values; a sample taken without
      replacement, which a Bernoulli sample is given its size, concentrates at least as well
      pointwise, Hoeffding 1963). The KS statistic is a sup-distance between the two
      functions, so ``|KS on the sketch - KS on all rows| <= eps_ref + eps_cur`` (``eps`` is
      0 for a side read whole) with probability at least ``1 - 2 * sketch_delta``. The
      feature's :attr:`FeatureDrift.sketch` states the bound.

    The report's ``engine`` is "scipy": these are its tests. Raises what
    :meth:`DriftEngine.detect` raises for bad data or arguments, and
    :class:`~prodready.UsageError` for a bad ``max_column_bytes``, ``sketch_delta`` or
    ``max_workers``.
    """
    ref = FrameColumns(reference) if isinstance(reference, pd.DataFrame) else reference
    cur = FrameColumns(current) if isinstance(current, pd.DataFrame) else current
    _check_parameters(categorical, alpha, min_psi, psi_bins)
    if (
        isinstance(max_column_bytes, bool)
        or not isinstance(max_column_bytes, numbers.Integral)
        or max_column_bytes < MIN_COLUMN_BYTES
    ):
        raise UsageError(
            f"max_column_bytes must be a whole number >= {MIN_COLUMN_BYTES}, "
            f"got {max_column_bytes!r}"
        )
    if not isinstance(sketch_delta, numbers.Real) or not 0.0 < sketch_delta < 0.5:
        raise UsageError(f"sketch_delta must be a number between 0 and 0.5, got {sketch_delta!r}")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise UsageError(f"max_workers must be at least 1, got {max_workers!r}")
    plan = _column_plan(ref, cur, columns, categorical, alpha, min_psi, psi_bins)
    # Imported before the threads start, so that they do not all wait on the import lock.
    from scipy import special, stats  # noqa: F401

    n_ref, n_cur = ref.num_rows, cur.num_rows
    budget = int(max_column_bytes) // 8

    def test_column(col: Any) -> FeatureDrift:
        if col in plan.categorical:
            _, ref_counts, cur_counts = _aligned_counts(
                ref.value_counts(col), cur.value_counts(col)
            )
            return _categorical_feature(plan, col, ref_counts, cur_counts, n_ref, n_cur)
        sketch_ref, sketch_cur = n_ref > budget, n_cur > budget
        if not (sketch_ref or sketch_cur):
            # ScipyEngine's representation and arithmetic: the same results, bit for bit.
            as_keys = _SORT_AS_INT and max(n_ref, n_cur) > KS_EXACT_MAX_N
            x = _read_sorted(ref, col, as_keys=as_keys)
            y = _read_sorted(cur, col, as_keys=as_keys)
            return _numeric_feature(plan, col, x, y, n_ref, n_cur)
        x, m_ref = (
            _sketch(ref, col, budget, seed) if sketch_ref else (_read_sorted(ref, col), n_ref)
        )
        y, m_cur = (
            _sketch(cur, col, budget, seed) if sketch_cur else (_read_sorted(cur, col), n_cur)
        )
        feature = _numeric_feature(plan, col, x, y, m_ref, m_cur)
        bound = 0.0
        for values, sketched in ((x, sketch_ref), (y, sketch_cur)):
            if sketched:
                bound += _dkw_bound(values.shape[0], float(sketch_delta))
        feature.sketch = KsSketch(
            reference_rows=m_ref,
            current_rows=m_cur,
            reference_total=n_ref,
            current_total=n_cur,
            ks_error_bound=min(bound, 1.0),
            confidence=1.0 - float(sketch_delta) * (int(sketch_ref) + int(sketch_cur)),
        )
        return feature

    with _one_blas_thread():
        return plan.report(ScipyEngine.name, _map(test_column, plan.columns, max_workers))


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS (OpenBLAS) on one thread meanwhile: the effect sizes' dot products run on chunks
    of 16k values, where waking BLAS threads costs ~2 ms a call (2.4 s per column of 20M rows
    measured), and the columns already share the cores."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        return contextlib.nullcontext()
    return cast("contextlib.AbstractContextManager[Any]", threadpool_limits(1, user_api="blas"))


def _column_plan(
    ref: ColumnSource,
    cur: ColumnSource,
    columns: Sequence[str] | None,
    categorical: Sequence[str],
    alpha: float,
    min_psi: float,
    psi_bins: int,
) -> _Plan:
    """:func:`_plan` for two column sources: the same checks, the same messages."""
    ref_columns = ref.columns()
    tested = ref_columns if columns is None else list(columns)
    twice = sorted({str(c) for c in tested if tested.count(c) > 1})
    if twice:
        raise DataError(f"the reference data has duplicated column names: {', '.join(twice)}")
    absent = [c for c in tested if c not in set(ref_columns)]
    if absent:
        raise DataError(
            "the reference data lacks column(s) to test: " + ", ".join(repr(c) for c in absent)
        )
    cur_columns = set(cur.columns())
    missing = [c for c in tested if c not in cur_columns]
    if missing:
        raise DataError(
            "the current data lacks column(s) of the reference data: "
            + ", ".join(repr(c) for c in missing)
        )
    unknown = [c for c in categorical if c not in set(tested)]
    if unknown:
        raise DataError(
            "categorical column(s) not in the reference data: "
            + ", ".join(repr(c) for c in unknown)
        )
    cats = set(categorical)
    for col in tested:
        if col in cats:
            continue
        for side, source in (("reference", ref), ("current", cur)):
            if not source.is_numeric(col):
                raise DataError(
                    f"column {col!r} of the {side} data has type {source.type_name(col)}, which "
                    "the KS test cannot handle: list it in `categorical` if it holds categories"
                )
    return _Plan(
        columns=tested,
        categorical=cats,
        alpha=float(alpha),
        threshold=alpha / len(tested) if tested else float(alpha),
        min_psi=float(min_psi),
        psi_bins=int(psi_bins),
    )


def _read_sorted(source: ColumnSource, col: str, *, as_keys: bool = False) -> SortedArray:
    """The column's non-missing values sorted, as :func:`_sorted_values` gives them, sorted in
    place (the fresh array :meth:`ColumnSource.floats` returns): one column's memory."""
    values = source.floats(col)
    if as_keys:
        # Sorted as int keys (faster with numpy < 2), then back to floats in place: the tests
        # depend only on order and equality, which the keys keep, and the Wasserstein distance
        # would otherwise convert both sides back into fresh arrays.
        keys = _float_keys_in_place(values)
        keys.sort()
        lo = int(np.searchsorted(keys, _KEY_NEG_INF, side="left"))
        hi = int(np.searchsorted(keys, _KEY_POS_INF, side="right"))
        return _keys_to_floats_in_place(keys[lo:hi])
    values.sort()
    return values[: int(np.searchsorted(values, np.nan, side="left"))]


_U64 = 1 << 64
_MASK64 = _U64 - 1


def _row_hashes(start: int, count: int, seed: int) -> npt.NDArray[np.uint64]:
    """splitmix64 of the row numbers ``start .. start + count - 1``, offset by ``seed``.

    A well-mixed 64-bit hash of (row, seed): which rows a sketch keeps looks random, yet
    depends on nothing else.
    """
    offset = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _MASK64
    z = np.arange(start, start + count, dtype=np.uint64)
    z += np.uint64(offset)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def _sketch(source: ColumnSource, col: str, budget: int, seed: int) -> tuple[FloatArray, int]:
    """The sketch of one side's numeric column: its sorted non-missing sampled values, and the
    number of rows kept (missing values included), reading the column in batches.

    A row is kept when the hash of its number is below ``budget / rows`` of the hash range (see
    :func:`detect_columns`).
    """
    rows = source.num_rows
    threshold = np.uint64(min(_MASK64, (budget * _U64) // max(rows, 1)))
    parts: list[FloatArray] = []
    start = 0
    for batch in source.float_batches(col):
        keep = _row_hashes(start, batch.shape[0], seed) < threshold
        parts.append(batch[keep])
        start += batch.shape[0]
    values = np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
    kept = int(values.shape[0])
    values.sort()
    return values[: int(np.searchsorted(values, np.nan, side="left"))], kept


def _dkw_bound(n: int, delta: float) -> float:
    """DKW: ``sup |F_n - F| <= sqrt(ln(2 / delta) / (2 n))`` with probability >= 1 - delta."""
    if n <= 0:
        return 1.0
    return math.sqrt(math.log(2.0 / delta) / (2.0 * n))


# --------------------------------------------------------------------------------------------
# The alibi-detect engine


class AlibiEngine:
    """Drift engine wrapping ``alibi_detect.cd.TabularDrift`` (the optional ``alibi`` extra).

    alibi-detect is licensed under the Business Source License 1.1: free for non-production
    use; production use needs a commercial licence from Seldon (each release becomes
    Apache-2.0 four years after it came out). It is imported only when :meth:`detect` runs
    (the import takes ~2 s); without it, :meth:`detect` raises
    :class:`~prodready.MissingDependencyError`.

    TabularDrift applies the same tests (KS for numeric, chi-square for categorical), with
    asymptotic KS p-values and float32 results, so p-values differ slightly from
    :class:`ScipyEngine`'s; on the same data both flag the same features in practice. Categorical
    values are encoded as integer codes shared by both sides (categories seen on either side).
    TabularDrift cannot handle missing values and needs one row count per side for all features,
    so columns without missing values are tested together by one detector, and each column with
    missing values by its own detector on its non-missing values. ``significant`` always uses
    this report's Bonferroni threshold over all features. The effect sizes (PSI, Wasserstein) are
    computed outside alibi-detect, by the same code and from the same data as
    :class:`ScipyEngine`'s: both engines report identical values.
    """

    name: str = "alibi"

    def detect(
        self,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        *,
        categorical: Sequence[str] = (),
        alpha: float = 0.05,
        min_psi: float = DEFAULT_MIN_PSI,
        psi_bins: int = DEFAULT_PSI_BINS,
    ) -> DriftReport:
        """Test every column of ``reference`` for drift in ``current``; see :class:`DriftEngine`."""
        plan = _plan(reference, current, categorical, alpha, min_psi, psi_bins)
        tabular_drift = _import_tabular_drift()
        n_ref, n_cur = len(reference), len(current)

        # Per column: float64 arrays (categories as codes) for both sides, or None if either
        # side is empty after dropping missing values; and the effect sizes.
        encoded: list[tuple[FloatArray, FloatArray, int | None] | None] = []
        effects: list[tuple[float, float]] = []
        for col in plan.columns:
            if col in plan.categorical:
                counts = _category_counts(reference[col], current[col])
                encoded.append(_encode_categorical(reference[col], current[col], counts))
                effects.append((_categorical_psi(counts[1], counts[2], n_ref, n_cur), math.nan))
            else:
                x = reference[col].to_numpy(dtype=np.float64, na_value=np.nan)
                y = current[col].to_numpy(dtype=np.float64, na_value=np.nan)
                encoded.append((x, y, None))
                effects.append(
                    _numeric_effects(_sort_floats(x), _sort_floats(y), n_ref, n_cur, plan.psi_bins)
                )

        stats: dict[int, tuple[float, float]] = {}
        complete: list[int] = []
        for i, enc in enumerate(encoded):
            if enc is None:
                continue
            x, y, n_cats = enc
            x_nan, y_nan = np.isnan(x), np.isnan(y)
            if not x_nan.any() and not y_nan.any():
                complete.append(i)
                continue
            x, y = x[~x_nan], y[~y_nan]
            if x.shape[0] == 0 or y.shape[0] == 0:
                continue
            cats = {} if n_cats is None else {0: n_cats}
            stats[i] = _run_tabular_drift(tabular_drift, x[:, None], y[:, None], cats, plan.alpha)[
                0
            ]

        if complete:
            parts = [encoded[i] for i in complete]
            x_all = np.column_stack([p[0] for p in parts if p is not None])
            y_all = np.column_stack([p[1] for p in parts if p is not None])
            cats = {j: p[2] for j, p in enumerate(parts) if p is not None and p[2] is not None}
            for i, result in zip(
                complete,
                _run_tabular_drift(tabular_drift, x_all, y_all, cats, plan.alpha),
                strict=True,
            ):
                stats[i] = result

        features = [
            plan.feature(col, *stats.get(i, (math.nan, math.nan)), *effects[i])
            for i, col in enumerate(plan.columns)
        ]
        return plan.report(self.name, features)


@contextlib.contextmanager
def quiet_alibi_import() -> Iterator[None]:
    """Import alibi-detect inside this block without its dependencies' import-time chatter.

    alibi-detect imports transformers, which logs "None of PyTorch, TensorFlow >= 2.0, or Flax
    have been found..." to stderr when it is first imported: noise for a user who assesses a
    tabular model and never asked for a deep-learning framework (it reached notebooks and the
    command line). transformers skips its advisory messages when
    ``TRANSFORMERS_NO_ADVISORY_WARNINGS`` is set: it is set for the import only, then restored.
    Warnings and errors of any library still show.
    """
    with environ_set("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"):
        yield


def _import_tabular_drift() -> Any:
    try:
        with quiet_alibi_import():
            from alibi_detect.cd import TabularDrift
    except ImportError as exc:
        raise MissingDependencyError("alibi-detect", "alibi", "the alibi drift engine") from exc
    return TabularDrift


def _encode_categorical(
    reference: pd.Series,
    current: pd.Series,
    counts: tuple[list[Any], IntArray, IntArray],
) -> tuple[FloatArray, FloatArray, int] | None:
    """Both sides as float codes 0..k-1 over the categories seen on either side (NaN = missing).

    ``counts`` is :func:`_category_counts` of both sides. None when either side has no
    non-missing value.
    """
    labels, ref_counts, cur_counts = counts
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return None
    index = pd.Index(labels, dtype=object)

    def codes(series: pd.Series) -> FloatArray:
        if isinstance(series.dtype, pd.CategoricalDtype):
            # Map the few categories, then look the codes up: no hashing of every value.
            cats = pd.Index(list(series.cat.categories), dtype=object)
            mapping = np.append(index.get_indexer(cats), -1).astype(np.float64)
            mapping[mapping < 0] = np.nan
            out: FloatArray = mapping[series.cat.codes.to_numpy()]  # code -1 -> last: NaN
            return out
        idx = index.get_indexer(pd.Index(series.astype(object)))
        out = idx.astype(np.float64)
        out[idx < 0] = np.nan
        return out

    return codes(reference), codes(current), len(labels)


def _run_tabular_drift(
    tabular_drift: Any,
    x_ref: FloatArray,
    x: FloatArray,
    categories_per_feature: dict[int, int],
    alpha: float,
) -> list[tuple[float, float]]:
    """(statistic, p-value) per feature of one TabularDrift run."""
    detector = tabular_drift(
        x_ref,
        p_val=alpha,
        # Always a dict (maybe empty): with None, TabularDrift warns that all features are
        # numeric.
        categories_per_feature=categories_per_feature,
        correction="bonferroni",
    )
    preds = detector.predict(x, drift_type="feature", return_p_val=True, return_distance=True)
    data = preds["data"]
    distance = np.asarray(data["distance"], dtype=np.float64).ravel()
    p_val = np.asarray(data["p_val"], dtype=np.float64).ravel()
    return [(float(d), float(p)) for d, p in zip(distance, p_val, strict=True)]


# --------------------------------------------------------------------------------------------


def get_engine(name: str) -> DriftEngine:
    """A drift engine by name: "scipy", "alibi", or "auto".

    "auto" is the alibi engine when alibi-detect is installed (checked without importing it),
    else the scipy engine. Asking for "alibi" without alibi-detect installed raises
    :class:`~prodready.MissingDependencyError` with the install hint; an unknown name raises
    :class:`~prodready.UsageError`.
    """
    alibi_installed = importlib.util.find_spec("alibi_detect") is not None
    if name == "scipy" or (name == "auto" and not alibi_installed):
        return ScipyEngine()
    if name == "auto" or (name == "alibi" and alibi_installed):
        return AlibiEngine()
    if name == "alibi":
        raise MissingDependencyError("alibi-detect", "alibi", "the alibi drift engine")
    raise UsageError(f"unknown drift engine {name!r}: expected one of {', '.join(_ENGINE_NAMES)}")
