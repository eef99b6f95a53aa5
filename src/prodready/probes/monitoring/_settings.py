"""The settings of the monitoring probe: :class:`MonitoringSettings` and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prodready._settings import require
from prodready.drift import DEFAULT_MAX_COLUMN_BYTES, DEFAULT_SKETCH_DELTA, MIN_COLUMN_BYTES


@dataclass(frozen=True)
class MonitoringSettings:
    """Settings of the monitoring probe (the spec's ``monitoring:`` section).

    - ``engine``: the drift engine: "scipy", "alibi" (needs ``prodready[alibi]``) or "auto"
      (alibi when installed, else scipy).
    - ``alpha``: family-wise significance level of the drift tests, Bonferroni-corrected over
      the features: a feature drifts when its p-value < alpha / n_features.
    - ``max_performance_drop``: largest allowed fall of the main metric (ROC AUC, macro F1 or
      R²) from reference to current data before monitoring FAILs.
    - ``max_missing_increase``: largest allowed rise of a feature's share of missing values
      from reference to current (0.1 = ten percentage points) before a WARN; a feature missing
      in every current row (and not in the reference) FAILs.
    - ``max_categories``: a categorical feature with more distinct values than this (or with
      a distinct value for most rows) gets a WARN: it is probably not categorical, and the
      chi-square test says little with so many categories.
    - ``bootstrap``: resamples for the confidence intervals of the main metric and its drop;
      ``confidence`` their level. A drop is FAIL only when the whole interval of the drop is
      above ``max_performance_drop``; WARN when the estimate is but the interval is not.
    - ``min_segment_rows``: labelled rows a segment (a value of a categorical feature) needs
      in both windows to have its own score.
    - ``reference_is_training``: say so when the reference data is the training data; its
      score is then in-sample (a WARN). A near-perfect reference score is taken as a sign too.
    - ``min_detectable_shift``: the smallest distribution shift (as a KS distance) the tests
      must be able to see with the rows given; fewer rows than that needs is a WARN.

    Effect sizes (see :mod:`prodready.drift`): a feature (or the model's output) is flagged
    as drifted when its test is significant *and* its Population Stability Index reaches
    ``min_psi``: at 100k rows nearly any difference is significant, and a significant but
    tiny shift is shown, not flagged. Flagged shifts are judged by the usual PSI bands:
    below ``psi_moderate`` stable, from it a moderate shift (WARN), from ``psi_major`` a
    major shift (FAIL).

    The online rehearsal (see :mod:`prodready.probes._rehearsal`):

    - ``online_engine``: the detector prodready rehearses, "scipy" (core, a second or two on
      100k rows) or "alibi" (alibi-detect's CVMDriftOnline/FETDriftOnline: tens of seconds).
    - ``ert``: the expected run time between false alarms the detector is calibrated to, in
      decisions; ``window``: the decisions it judges at a time.
    - ``rehearsal_runs``, ``warmup``, ``max_decisions``: runs with different seeds; each
      streams ``warmup`` unshifted decisions, then at most ``max_decisions`` shifted ones.
    - ``rehearsal_reference_rows``: reference rows the detector is built on (the others are
      the unshifted stream).
    - ``synthetic_shift``: the known shift also rehearsed, in reference standard deviations
      added to every numeric feature.
    - ``max_detection_delay`` (median decisions after the shift until the alarm) and
      ``max_false_alarms`` (per 1,000 unshifted decisions): what a monitor must achieve.
    - ``performance_window``: labelled decisions a sliding-window performance monitor scores.

    Data larger than memory (a Parquet folder, or more rows than ``data.sample_rows``; see
    :func:`prodready.drift.detect_columns` and docs/large-data.md): feature drift is tested on
    every row, reading one column per side at a time from Parquet, ``drift_workers`` columns
    at a time (default 2: both cores, at most two columns in memory). A numeric column of one
    side larger than ``max_column_bytes`` as float64 (default 256 MiB: 33.5M rows) is tested
    on a mergeable sketch of about ``max_column_bytes / 8`` rows instead, whose KS statistic
    is within a stated bound of the exact one with probability at least
    ``1 - 2 * sketch_delta`` (default 0.001 per side).
    """

    engine: Literal["auto", "scipy", "alibi"] = "auto"
    alpha: float = 0.05
    max_performance_drop: float = 0.05
    max_missing_increase: float = 0.1
    max_categories: int = 1000
    bootstrap: int = 200
    confidence: float = 0.95
    min_segment_rows: int = 200
    reference_is_training: bool = False
    min_detectable_shift: float = 0.1
    min_psi: float = 0.1
    psi_moderate: float = 0.1
    psi_major: float = 0.25
    online_engine: Literal["scipy", "alibi"] = "scipy"
    ert: float = 1000.0
    window: int = 100
    rehearsal_runs: int = 20
    rehearsal_reference_rows: int = 5000
    warmup: int = 2000
    max_decisions: int = 2000
    synthetic_shift: float = 0.5
    max_detection_delay: int = 500
    max_false_alarms: float = 2.0
    performance_window: int = 500
    max_column_bytes: int = DEFAULT_MAX_COLUMN_BYTES
    sketch_delta: float = DEFAULT_SKETCH_DELTA
    drift_workers: int = 2

    def __post_init__(self) -> None:
        require(
            self.engine in ("auto", "scipy", "alibi"),
            "engine",
            f"is {self.engine!r}",
            "one of auto, scipy, alibi",
        )
        require(0 < self.alpha < 1, "alpha", f"is {self.alpha}", "a number between 0 and 1")
        require(
            self.max_performance_drop >= 0,
            "max_performance_drop",
            f"is {self.max_performance_drop}",
            "a number >= 0",
        )
        require(
            0 <= self.max_missing_increase <= 1,
            "max_missing_increase",
            f"is {self.max_missing_increase}",
            "a share between 0 and 1",
        )
        require(
            self.max_categories >= 2,
            "max_categories",
            f"is {self.max_categories}",
            "an integer >= 2",
        )
        require(
            10 <= self.bootstrap <= 10_000,
            "bootstrap",
            f"is {self.bootstrap}",
            "an integer from 10 to 10000",
        )
        require(
            0.5 <= self.confidence < 1,
            "confidence",
            f"is {self.confidence}",
            "a level between 0.5 and 1, e.g. 0.95",
        )
        require(
            self.min_segment_rows >= 10,
            "min_segment_rows",
            f"is {self.min_segment_rows}",
            "an integer >= 10",
        )
        require(
            0 < self.min_detectable_shift < 1,
            "min_detectable_shift",
            f"is {self.min_detectable_shift}",
            "a KS distance between 0 and 1",
        )
        require(
            0 <= self.min_psi <= 10,
            "min_psi",
            f"is {self.min_psi}",
            "a PSI from 0 (flag every significant shift) to 10",
        )
        require(
            0 < self.psi_moderate < self.psi_major,
            "psi_major",
            f"is {self.psi_major} with psi_moderate {self.psi_moderate}",
            "0 < psi_moderate < psi_major (e.g. 0.1 and 0.25)",
        )
        for name, value, low, high in (
            ("ert", self.ert, 10, 1e7),
            ("window", self.window, 5, 100_000),
            ("rehearsal_runs", self.rehearsal_runs, 1, 1000),
            ("rehearsal_reference_rows", self.rehearsal_reference_rows, 50, 1_000_000),
            ("warmup", self.warmup, 0, 1_000_000),
            ("max_decisions", self.max_decisions, 10, 1_000_000),
            ("synthetic_shift", self.synthetic_shift, 0.01, 100),
            ("max_detection_delay", self.max_detection_delay, 1, 1_000_000),
            ("max_false_alarms", self.max_false_alarms, 0, 1000),
            ("performance_window", self.performance_window, 10, 1_000_000),
            ("max_column_bytes", self.max_column_bytes, MIN_COLUMN_BYTES, 1 << 40),
            ("sketch_delta", self.sketch_delta, 1e-12, 0.1),
            ("drift_workers", self.drift_workers, 1, 8),
        ):
            require(low <= value <= high, name, f"is {value}", f"a value from {low:g} to {high:g}")
