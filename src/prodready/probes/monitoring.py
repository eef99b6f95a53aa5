"""Q3 — Can model performance be monitored in real-time?

This probe does the *snapshot* part of monitoring: it compares the current window with the
reference data the way a monitor would, and judges what it finds.

- Feature drift: one test per feature (Kolmogorov-Smirnov for numbers, chi-square for
  categories) with a Bonferroni correction over the features, through the drift engine the
  settings name (alibi-detect or scipy).
- Prediction drift: the same test on the model's outputs (probability of the positive class,
  predicted class, or predicted value).
- Performance: the main metric (ROC AUC for binary, macro F1 for multi-class, R² for
  regression) on labelled current data against the reference.
- Scoring: the model must score every row of both windows; rows it raises on (or answers
  NaN for) make the question FAIL, and everything else is still measured on the other rows.

The online rehearsal (stream data into a monitor, inject a shift, measure detection delay and
false alarms) is not built yet; the finding says so and therefore never PASSes on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodready._exceptions import MissingDependencyError, SpecError
from prodready._settings import require
from prodready.drift import DriftReport, get_engine, psi_band
from prodready.online import Rehearsal, get_online_engine
from prodready.probes._base import Probe, ProbeContext
from prodready.probes._performance import bootstrap_drop, metric_function, segment_drops
from prodready.probes._rehearsal import (
    PerformanceRehearsal,
    Rehearsals,
    rehearse_performance,
    run_rehearsals,
    trace_window,
)
from prodready.probes._scoring import Method, Scoring, score_model
from prodready.results import Chart, Check, Evidence, Finding, Status, Table
from prodready.system import System

__all__ = ["MonitoringProbe", "MonitoringSettings"]


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
        ):
            require(low <= value <= high, name, f"is {value}", f"a value from {low:g} to {high:g}")


_MAX_DRIFT_CHARTS = 4
_BINS = 20
_MAX_CATEGORIES = 20


class MonitoringProbe(Probe):
    """Drift of features and predictions, and performance, between reference and current."""

    question = "Q3"
    settings_class = MonitoringSettings

    def preflight(self, system: System) -> None:
        settings: MonitoringSettings = self.settings(system)
        # An engine that is not installed is the user's to fix, with the install hint.
        try:
            get_engine(settings.engine)
        except MissingDependencyError as exc:
            raise SpecError(str(exc), source=system.source, field="monitoring.engine") from None
        try:
            get_online_engine(settings.online_engine)
        except MissingDependencyError as exc:
            raise SpecError(
                str(exc), source=system.source, field="monitoring.online_engine"
            ) from None
        if "monitor" in system.hooks:
            system.hook("monitor")  # a hook that cannot be imported is a spec error

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: MonitoringSettings = self.settings(system)
        if system.current is None:
            return self.not_assessed(
                "No current data: there is no production window to monitor against the reference.",
                "data.current",
                "compare a recent production window with the reference",
            )
        engine = get_engine(settings.engine)
        ref_x, cur_x = system.X("reference"), system.X("current")
        context.report("feature drift")
        features = engine.detect(
            ref_x,
            cur_x,
            categorical=system.categorical_columns,
            alpha=settings.alpha,
            min_psi=settings.min_psi,
        )
        context.check_deadline()

        # The model's failures on either window are the system's: kept, counted, judged.
        context.report("scoring both windows")
        method: Method = "predict_proba" if system.task == "binary" else "predict"
        ref_scoring = score_model(system.model, ref_x, method, context=context)
        cur_scoring = score_model(system.model, cur_x, method, context=context)
        ref_out, cur_out = _outputs(system, ref_scoring), _outputs(system, cur_scoring)
        out_kind = "categorical" if system.task == "multiclass" else "numeric"
        predictions = None
        if len(ref_out) and len(cur_out):
            # Predicted classes are compared as categories: their codes have no order for KS.
            predictions = engine.detect(
                pd.DataFrame({"prediction": ref_out}),
                pd.DataFrame({"prediction": cur_out}),
                categorical=["prediction"] if out_kind == "categorical" else [],
                alpha=settings.alpha,
                min_psi=settings.min_psi,
            )
        context.check_deadline()

        context.report("performance and its uncertainty")
        perf = _performance(system, ref_out, cur_out, ref_scoring, cur_scoring)
        segments: list[dict[str, Any]] = []
        if perf is not None and _measurable(perf):
            _add_intervals(
                perf, system, ref_out, cur_out, ref_scoring, cur_scoring, settings, context.seed
            )
            segments = _segments(system, ref_out, cur_out, ref_scoring, cur_scoring, settings)
        context.check_deadline()
        rehearsals = run_rehearsals(system, settings, ref_x, cur_x, ref_out, cur_out, context)
        performance_monitor = None
        if perf is not None and _measurable(perf) and rehearsals.results:
            (ref_y, ref_o), (cur_y, cur_o) = _labelled(
                system, ref_out, cur_out, ref_scoring, cur_scoring
            )
            performance_monitor = rehearse_performance(
                metric_function(system.task or "", _positive(system)),
                (ref_y, ref_o),
                (cur_y, cur_o),
                floor=perf["reference"] - settings.max_performance_drop,
                window=settings.performance_window,
                warmup=settings.warmup,
                max_decisions=settings.max_decisions,
                runs=min(settings.rehearsal_runs, 5),
                seed=context.seed,
            )
        context.check_deadline()
        missing = _missing_shares(ref_x, cur_x)
        cardinality = _cardinality(ref_x, cur_x, system.categorical_columns)
        checks = [
            _scoring_check(ref_scoring, cur_scoring),
            _missing_check(missing, settings.max_missing_increase),
            _feature_check(features, settings),
            _cardinality_check(cardinality, settings.max_categories, len(ref_x) + len(cur_x)),
            _power_check(len(ref_x), len(cur_x), features, settings.min_detectable_shift),
            _prediction_check(predictions, settings),
            _performance_check(perf, settings.max_performance_drop, system.target),
            _segment_check(segments, settings.max_performance_drop, settings.min_segment_rows),
            _in_sample_check(perf, settings.reference_is_training),
            _monitor_check(rehearsals, settings, bool(features.drifted), system.hooks),
        ]
        status = Finding.worst(checks)
        evidence: list[Evidence] = [_drift_table(features, settings)]
        if any(ref > 0 or cur > 0 for ref, cur in missing.values()):
            evidence.append(_missing_table(missing))
        for which, scoring in (("current", cur_scoring), ("reference", ref_scoring)):
            if not scoring.ok:
                evidence.append(_failures_table(which, scoring))
        if perf is not None:
            evidence.append(_performance_table(perf))
        if segments:
            evidence.append(_segment_table(segments, perf))
        if rehearsals.results:
            evidence.append(_rehearsal_table(rehearsals, performance_monitor, settings))
        evidence += _rehearsal_chart(rehearsals)
        evidence += _drift_charts(features, ref_x, cur_x, system.categorical_columns)
        if len(ref_out) and len(cur_out):
            evidence.append(
                _hist_chart(
                    "Model output: reference vs current",
                    ref_out,
                    cur_out,
                    out_kind,
                    xlabel=_output_label(system),
                )
            )
        drifted = features.drifted
        parts = []
        for which, scoring in (("current", cur_scoring), ("reference", ref_scoring)):
            if not scoring.ok:
                parts.append(_upper_first(scoring.describe(which)))
        gone = _all_missing(missing)
        if gone:
            parts.append(f"missing in every current row: {_names(gone)}")
        parts.append(
            f"{len(drifted)} of {len(features.features)} features drifted"
            + (f" ({', '.join(drifted)})" if drifted else "")
        )
        if predictions is not None:
            parts.append("predictions drifted" if predictions.drifted else "predictions stable")
        if perf is not None and _measurable(perf):
            parts.append(f"{perf['metric']} {perf['reference']:.3f} -> {perf['current']:.3f}")
        elif perf is not None:
            parts.append(f"{perf['metric']} cannot be measured on the current window")
        elif system.target is not None and cur_scoring.ok:
            parts.append("no labels in current data")
        summary = "; ".join(parts) + "."
        return Finding(
            question=self.question,
            status=status,
            summary=_upper_first(summary),
            checks=checks,
            measurements={
                "drift_engine": features.engine,
                "features_tested": len(features.features),
                "features_drifted": drifted,
                "psi": {f.feature: f.psi for f in features.features},
                "prediction_psi": None if predictions is None else predictions.features[0].psi,
                "prediction_drift_p_value": (
                    None if predictions is None else predictions.features[0].p_value
                ),
                "performance": perf,
                "rows": {"reference": len(ref_x), "current": len(cur_x)},
                "unscorable_rows": {
                    "reference": ref_scoring.n_failed,
                    "current": cur_scoring.n_failed,
                },
                "missing_share": {
                    f: {"reference": ref, "current": cur} for f, (ref, cur) in missing.items()
                },
                "distinct_values": cardinality,
                "segments": segments[:50],
                "rehearsal": {
                    f"{monitor} / {stream}": _rehearsal_summary(r)
                    for (monitor, stream), r in rehearsals.results.items()
                },
                "performance_monitor": (
                    None if performance_monitor is None else performance_monitor.as_dict()
                ),
                "monitor_hook_error": rehearsals.hook_error,
                # A ready-to-use configuration of the detector that was rehearsed; the run
                # folder gets it as monitor.json.
                "recommended_monitor": _without_timings(rehearsals.config),
                "detectable_shift": _detectable_shift(len(ref_x), len(cur_x), features),
            },
            thresholds={
                "alpha": settings.alpha,
                "correction": features.correction,
                "per_feature_threshold": features.threshold,
                "min_psi": settings.min_psi,
                "psi_bands": [settings.psi_moderate, settings.psi_major],
                "max_performance_drop": settings.max_performance_drop,
                "max_missing_increase": settings.max_missing_increase,
                "max_categories": settings.max_categories,
                "bootstrap": settings.bootstrap,
                "confidence": settings.confidence,
                "min_segment_rows": settings.min_segment_rows,
                "min_detectable_shift": settings.min_detectable_shift,
                "online_engine": settings.online_engine,
                "ert": settings.ert,
                "window": settings.window,
                "max_detection_delay": settings.max_detection_delay,
                "max_false_alarms": settings.max_false_alarms,
                "synthetic_shift": settings.synthetic_shift,
            },
            evidence=evidence,
            remediation=_remediation(
                status, drifted, perf, settings.max_performance_drop, cur_scoring, ref_scoring
            ),
            not_assessed=_unmeasured(perf),
        )


# -- measuring ----------------------------------------------------------------------------


def _outputs(system: System, scoring: Scoring) -> np.ndarray:
    """What the model said on the rows it scored: P(positive class), class, or value."""
    out = scoring.outputs
    if system.task == "binary":
        return out[:, 1] if out.ndim == 2 else out
    return out


def _output_label(system: System) -> str:
    if system.task == "binary":
        classes = getattr(system.model, "classes_", [None, "positive"])
        return f"probability of class {classes[1]!s}"
    return "predicted class" if system.task == "multiclass" else "predicted value"


def _add_intervals(
    perf: dict[str, Any],
    system: System,
    ref_out: np.ndarray,
    cur_out: np.ndarray,
    ref_scoring: Scoring,
    cur_scoring: Scoring,
    settings: MonitoringSettings,
    seed: int,
) -> None:
    """Bootstrap intervals of the main metric on both windows and of its drop, into ``perf``."""
    (ref_y, ref_o), (cur_y, cur_o) = _labelled(system, ref_out, cur_out, ref_scoring, cur_scoring)
    metric = metric_function(system.task or "", _positive(system))
    ref_ci, cur_ci, drop_ci = bootstrap_drop(
        metric,
        (ref_y, ref_o),
        (cur_y, cur_o),
        resamples=settings.bootstrap,
        level=settings.confidence,
        seed=seed,
    )
    perf["reference_interval"] = ref_ci.to_json()
    perf["current_interval"] = cur_ci.to_json()
    perf["drop_interval"] = drop_ci.to_json()
    perf["confidence"] = settings.confidence


def _segments(
    system: System,
    ref_out: np.ndarray,
    cur_out: np.ndarray,
    ref_scoring: Scoring,
    cur_scoring: Scoring,
    settings: MonitoringSettings,
) -> list[dict[str, Any]]:
    """The main metric per value of each categorical feature, on labelled scored rows."""
    columns = system.categorical_columns
    if not columns or system.current is None:
        return []
    frames = []
    for frame, out, scoring in (
        (system.reference, ref_out, ref_scoring),
        (system.current, cur_out, cur_scoring),
    ):
        part = frame.loc[scoring.scored, columns].assign(
            _y=frame[system.target].to_numpy()[scoring.scored], _out=out
        )
        frames.append(part[part["_y"].notna()])
    metric = metric_function(system.task or "", _positive(system))
    return segment_drops(metric, frames[0], frames[1], columns, min_rows=settings.min_segment_rows)


def _labelled(
    system: System,
    ref_out: np.ndarray,
    cur_out: np.ndarray,
    ref_scoring: Scoring,
    cur_scoring: Scoring,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(labels, outputs) of the labelled, scored rows of each window."""
    assert system.target is not None and system.current is not None
    pairs = []
    for frame, out, scoring in (
        (system.reference, ref_out, ref_scoring),
        (system.current, cur_out, cur_scoring),
    ):
        y = frame[system.target].to_numpy()[scoring.scored]
        keep = pd.notna(y)
        pairs.append((y[keep], out[keep]))
    return pairs


def _positive(system: System) -> Any:
    classes = getattr(system.model, "classes_", None)
    return None if classes is None or system.task != "binary" else classes[1]


def _performance(
    system: System,
    ref_out: np.ndarray,
    cur_out: np.ndarray,
    ref_scoring: Scoring,
    cur_scoring: Scoring,
) -> dict[str, Any] | None:
    """The main metric (and a second one) on reference and current data, if both are labelled.

    ``ref_out`` and ``cur_out`` are the model's outputs (:func:`_outputs`) on the rows it
    scored in each window (predicting 100k rows costs about a second, so it is done once per
    window); rows it could not score are judged by the scoring check, not here.
    """
    from sklearn import metrics

    target = system.target
    if target is None or system.current is None or target not in system.current.columns:
        return None
    ref_y = system.reference[target].to_numpy()[ref_scoring.scored]
    cur_y = system.current[target].to_numpy()[cur_scoring.scored]
    labelled = pd.notna(cur_y)
    if not labelled.any() or len(ref_y) == 0:
        return None
    values: dict[str, dict[str, float]] = {}
    windows = (
        ("reference", ref_y, ref_out),
        ("current", cur_y[labelled], cur_out[labelled]),
    )
    for which, y, out in windows:
        if system.task == "binary":
            negative, positive = system.model.classes_[:2]
            y_bin = (y == positive).astype(int)
            auc = (
                float(metrics.roc_auc_score(y_bin, out))
                if len(np.unique(y_bin)) == 2
                else float("nan")
            )
            pred = np.where(out >= 0.5, positive, negative)
            values[which] = {"roc_auc": auc, "accuracy": float(metrics.accuracy_score(y, pred))}
        elif system.task == "multiclass":
            values[which] = {
                "macro_f1": float(metrics.f1_score(y, out, average="macro")),
                "accuracy": float(metrics.accuracy_score(y, out)),
            }
        elif len(y) < 2:  # R² is undefined on a single row (scikit-learn warns, gives NaN)
            values[which] = {"r2": float("nan"), "rmse": float(np.sqrt(np.mean((y - out) ** 2)))}
        else:
            values[which] = {
                "r2": float(metrics.r2_score(y, out)),
                "rmse": float(np.sqrt(metrics.mean_squared_error(y, out))),
            }
    main = next(iter(values["reference"]))
    why = ""
    for which, y, _ in windows:
        if not np.isfinite(values[which][main]):
            kinds = len(pd.unique(y))
            why = (
                f"the {which} window has {len(y):,} labelled row{'s' if len(y) != 1 else ''}"
                + (" of a single class" if system.is_classifier and kinds < 2 else "")
                + f", too few to compute {main}"
            )
            break
    return {
        "metric": main,
        "reference": values["reference"][main],
        "current": values["current"][main],
        "drop": values["reference"][main] - values["current"][main],
        "all": values,
        "labelled_rows": int(labelled.sum()),
        "why_unmeasurable": why,
    }


# -- judging ------------------------------------------------------------------------------


def _scoring_check(ref: Scoring, cur: Scoring) -> Check:
    failed = ref.n_failed + cur.n_failed
    sentences = [
        scoring.describe(which) for which, scoring in (("current", cur), ("reference", ref))
    ]
    return Check(
        name="model scores every row",
        status=Status.FAIL if failed else Status.PASS,
        measured=failed,
        threshold="no row the model cannot score",
        message=_upper_first("; ".join(sentences) + ".")
        if failed
        else "The model scored every row of both windows.",
    )


def _measurable(perf: dict[str, Any]) -> bool:
    return bool(np.isfinite(perf["reference"]) and np.isfinite(perf["current"]))


def _unmeasured(perf: dict[str, Any] | None) -> list[str]:
    if perf is None or _measurable(perf):
        return []
    return [f"performance: {perf['metric']} cannot be measured ({perf['why_unmeasurable']})"]


def _missing_shares(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per feature: the share of missing values in the reference and in the current window."""
    ref_na, cur_na = ref.isna().mean(), cur.isna().mean()
    return {str(c): (float(ref_na[c]), float(cur_na[c])) for c in ref.columns}


def _all_missing(missing: dict[str, tuple[float, float]]) -> list[str]:
    return [f for f, (ref, cur) in missing.items() if cur == 1.0 and ref < 1.0]


def _missing_check(missing: dict[str, tuple[float, float]], max_increase: float) -> Check:
    gone = _all_missing(missing)
    rising = {f: cur - ref for f, (ref, cur) in missing.items() if cur - ref > max_increase}
    worst = max((cur - ref for ref, cur in missing.values()), default=0.0)
    if gone:
        status, message = (
            Status.FAIL,
            f"{_names(gone)} {'is' if len(gone) == 1 else 'are'} missing in every current row: "
            "the model decides without it, and no drift test can see that.",
        )
    elif rising:
        status, message = (
            Status.WARN,
            "More missing values in the current window: "
            + ", ".join(f"{f} +{d:.1%}" for f, d in rising.items())
            + ".",
        )
    else:
        status, message = Status.PASS, "No feature has notably more missing values."
    return Check(
        name="missing values",
        status=status,
        measured=round(worst, 6),
        threshold=f"no feature missing in every row; rise <= {max_increase:.0%}",
        message=message,
    )


def _cardinality(ref: pd.DataFrame, cur: pd.DataFrame, categorical: list[str]) -> dict[str, int]:
    """Distinct values of each categorical feature over both windows."""
    return {
        str(c): int(pd.concat([ref[c], cur[c]], ignore_index=True).nunique(dropna=True))
        for c in categorical
    }


def _cardinality_check(cardinality: dict[str, int], max_categories: int, rows: int) -> Check:
    # Most rows with a value of their own: an id, an amount, or free text, not a category.
    many = {f: n for f, n in cardinality.items() if n > max_categories or (n > 50 and n > rows / 2)}
    return Check(
        name="categorical cardinality",
        status=Status.WARN if many else Status.PASS,
        measured=max(cardinality.values(), default=0),
        threshold=f"<= {max_categories:,} distinct values and fewer than half the rows",
        message=(
            "; ".join(f"{f} has {n:,} distinct values in {rows:,} rows" for f, n in many.items())
            + ": probably not categorical (list it under data.categorical only if it is); the "
            "chi-square test says little with so many categories."
            if many
            else "Every categorical feature has a manageable number of categories."
        ),
    )


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _band(psi: float, settings: MonitoringSettings) -> str:
    if not np.isfinite(psi):
        return "n/a"
    return psi_band(psi, moderate=settings.psi_moderate, major=settings.psi_major)


def _band_status(bands: list[str]) -> Status:
    if "major" in bands:
        return Status.FAIL
    return Status.WARN if "moderate" in bands else Status.PASS


def _feature_check(report: DriftReport, settings: MonitoringSettings) -> Check:
    flagged = [f for f in report.features if f.drifted]
    tiny = [f.feature for f in report.features if f.significant and not f.drifted]
    bands = [_band(f.psi, settings) for f in flagged]
    listed = ", ".join(
        f"{f.feature} (PSI {f.psi:.3f}, {b})" for f, b in zip(flagged, bands, strict=True)
    )
    message = f"{len(flagged)} feature(s) drifted: {listed}." if flagged else "No feature drifted."
    if tiny:
        message += (
            f" Significant but below PSI {settings.min_psi:g}, so not flagged: {_names(tiny)}."
        )
    return Check(
        name="feature drift",
        status=_band_status(bands),
        measured=len(flagged),
        threshold=f"flagged when p < {report.threshold:.2g} (alpha {report.alpha:g}, "
        f"{report.correction}) and PSI >= {settings.min_psi:g}; PSI {settings.psi_moderate:g} "
        f"moderate (WARN), {settings.psi_major:g} major (FAIL)",
        message=message,
    )


def _prediction_check(report: DriftReport | None, settings: MonitoringSettings) -> Check:
    if report is None:
        return Check(
            name="prediction drift",
            status=Status.FAIL,
            measured=None,
            threshold="outputs on both windows",
            message="The model gave no usable output on one of the windows: the drift of its "
            "outputs cannot be measured.",
        )
    out = report.features[0]
    band = _band(out.psi, settings)
    if out.drifted:
        message = f"The distribution of the model's outputs shifted (PSI {out.psi:.3f}, {band})."
    elif out.significant:
        message = (
            f"The model's outputs changed significantly but little (PSI {out.psi:.3f}, below "
            f"{settings.min_psi:g}): not flagged."
        )
    else:
        message = "The distribution of the model's outputs did not change significantly."
    return Check(
        name="prediction drift",
        status=_band_status([band]) if out.drifted else Status.PASS,
        measured=out.psi,
        threshold=f"p >= {report.threshold:.2g} or PSI < {settings.min_psi:g}",
        message=message,
    )


def _performance_check(perf: dict[str, Any] | None, max_drop: float, target: str | None) -> Check:
    if perf is None:
        return Check(
            name="performance",
            status=Status.WARN,
            measured=None,
            threshold=f"drop <= {max_drop:g}",
            message=f"The current data has no labels ({target or 'no target column'}): "
            "performance cannot be measured.",
        )
    if not _measurable(perf):
        return Check(
            name="performance",
            status=Status.WARN,
            measured=None,
            threshold=f"{perf['metric']} drop <= {max_drop:g}",
            message=f"{perf['metric']} cannot be measured: {perf['why_unmeasurable']}.",
        )
    drop = perf["drop"]
    low, high = perf.get("drop_interval") or (drop, drop)
    level = perf.get("confidence", 0.95)
    if low > max_drop:  # the whole interval is past the limit: a real drop
        status, verdict = Status.FAIL, "a drop beyond the limit, with confidence"
    elif drop > max_drop:
        status, verdict = Status.WARN, "maybe a drop beyond the limit: the interval includes it"
    else:
        status, verdict = Status.PASS, "within the limit"
    ci = (
        f" ({level:.0%} interval of the drop {low:+.4f} to {high:+.4f})"
        if "drop_interval" in perf
        else ""
    )
    return Check(
        name="performance",
        status=status,
        measured=drop,
        threshold=f"{perf['metric']} drop <= {max_drop:g}, judged on its {level:.0%} interval",
        message=f"{perf['metric']} went from {perf['reference']:.4f} on the reference to "
        f"{perf['current']:.4f} on current data (drop {drop:+.4f}{ci}): {verdict}.",
    )


def _segment_check(segments: list[dict[str, Any]], max_drop: float, min_rows: int) -> Check:
    worse = [s for s in segments if s["drop"] > max_drop]
    if not segments:
        message = f"No segment has {min_rows}+ labelled rows in both windows to score alone."
    elif worse:
        message = (
            "A drop hidden in the average: "
            + "; ".join(
                f"{s['feature']} = {s['value']}: {s['reference']:.3f} -> {s['current']:.3f}"
                for s in worse[:3]
            )
            + (f" and {len(worse) - 3} more" if len(worse) > 3 else "")
            + "."
        )
    else:
        message = f"No segment's score fell by more than {max_drop:g} ({len(segments)} scored)."
    return Check(
        name="performance by segment",
        status=Status.WARN if worse else Status.PASS,
        measured=max((s["drop"] for s in segments), default=None),
        threshold=f"no segment's drop > {max_drop:g} (segments of {min_rows}+ rows)",
        message=message,
    )


def _in_sample_check(perf: dict[str, Any] | None, declared: bool) -> Check:
    score = None if perf is None else perf["reference"]
    near_perfect = score is not None and np.isfinite(score) and score >= 0.999
    if declared or near_perfect:
        why = (
            "the spec says the reference is the training data"
            if declared
            else f"the reference score is {score:.4f}, near perfect"
        )
        return Check(
            name="reference out of sample",
            status=Status.WARN,
            measured=score,
            threshold="a held-out reference (score below 0.999)",
            message=f"The reference score looks in-sample ({why}): any later window will seem "
            "to drop. Use held-out data the model never saw (a validation split) as the "
            "reference.",
        )
    return Check(
        name="reference out of sample",
        status=Status.PASS,
        measured=score,
        threshold="a held-out reference (score below 0.999)",
        message="The reference score is not suspiciously perfect.",
    )


def _rehearsal_summary(r: Rehearsal) -> dict[str, Any]:
    data = r.as_dict()
    summary: dict[str, Any] = _without_timings(
        {k: v for k, v in data.items() if k not in ("trace", "config")}
    )
    return summary


_TIMINGS = ("seconds", "calibration_seconds", "rehearsal_seconds")


def _without_timings(value: Any) -> Any:
    """``value`` without wall-time entries: a finding is the same for the same seed."""
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in _TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _monitor_verdict(
    results: dict[tuple[str, str], Rehearsal],
    monitor: str,
    settings: MonitoringSettings,
    actual_drift: bool,
) -> list[str]:
    """What ``monitor`` fails to achieve (empty: it achieves the settings)."""
    problems = []
    # The shift seen counts only when the snapshot found drift; the synthetic one always.
    streams = ["current", "synthetic"] if actual_drift else ["synthetic"]
    for stream in streams:
        r = results.get((monitor, stream))
        if r is None:
            continue
        what = "the current window's shift" if stream == "current" else "the synthetic shift"
        if r.median_delay is None:
            problems.append(f"it missed {what} in {r.runs - r.detected} of {r.runs} runs")
        elif r.median_delay > settings.max_detection_delay:
            problems.append(
                f"it caught {what} after a median of {r.median_delay:,.0f} decisions "
                f"(> {settings.max_detection_delay:,})"
            )
    r = results.get((monitor, "synthetic")) or results.get((monitor, "current"))
    rate = None if r is None else r.false_alarms_per_1000
    if rate is not None and rate > settings.max_false_alarms:
        problems.append(
            f"{rate:.2f} false alarms per 1,000 decisions (> {settings.max_false_alarms:g})"
        )
    return problems


def _monitor_check(
    rehearsals: Rehearsals, settings: MonitoringSettings, actual_drift: bool, hooks: dict[str, str]
) -> Check:
    threshold = (
        f"median delay <= {settings.max_detection_delay:,} decisions, "
        f"<= {settings.max_false_alarms:g} false alarms per 1,000"
    )
    results = rehearsals.results
    if rehearsals.skipped is not None:
        return Check(
            name="your monitor, rehearsed",
            status=Status.WARN,
            measured=None,
            threshold=threshold,
            message=f"Not rehearsed: {rehearsals.skipped}.",
        )
    if "monitor" in hooks:
        if rehearsals.hook_error is not None:
            return Check(
                name="your monitor, rehearsed",
                status=Status.FAIL,
                measured=None,
                threshold=threshold,
                message="Your monitor (hooks.monitor) failed when fed decisions: "
                f"{rehearsals.hook_error}.",
            )
        problems = _monitor_verdict(results, "yours", settings, actual_drift)
        r = results.get(("yours", "current" if actual_drift else "synthetic"))
        return Check(
            name="your monitor, rehearsed",
            status=Status.FAIL if problems else Status.PASS,
            measured=None if r is None else r.median_delay,
            threshold=threshold,
            message=(
                "Your monitor (hooks.monitor): " + "; ".join(problems) + "."
                if problems
                else f"Your monitor (hooks.monitor) caught the shift after a median of "
                f"{r.median_delay:,.0f} decisions, with {r.false_alarms_per_1000 or 0:.2f} "
                "false alarms per 1,000."
                if r is not None and r.median_delay is not None
                else "Your monitor (hooks.monitor) was rehearsed."
            ),
        )
    problems = _monitor_verdict(results, "features", settings, actual_drift)
    r = results.get(("features", "current" if actual_drift else "synthetic"))
    feasible = (
        f"prodready's {settings.online_engine} detector on the recorded features caught the "
        f"shift after a median of {r.median_delay:,.0f} decisions with "
        f"{r.false_alarms_per_1000 or 0:.2f} false alarms per 1,000 (its configuration is "
        "monitor.json in the run folder)"
        if r is not None and r.median_delay is not None and not problems
        else f"prodready's {settings.online_engine} detector did not achieve the settings: "
        + "; ".join(problems)
    )
    return Check(
        name="your monitor, rehearsed",
        status=Status.WARN,
        measured=None if r is None else r.median_delay,
        threshold=threshold,
        message=f"No monitor of yours was tested (name it in hooks.monitor): {feasible}.",
    )


def _detectable_shift(n_ref: int, n_cur: int, report: DriftReport) -> float:
    """The smallest KS distance the corrected test calls significant with these row counts."""
    if n_ref == 0 or n_cur == 0:
        return 1.0
    c = float(np.sqrt(-np.log(report.threshold / 2) / 2))
    return min(1.0, c * float(np.sqrt((n_ref + n_cur) / (n_ref * n_cur))))


def _power_check(n_ref: int, n_cur: int, report: DriftReport, wanted: float) -> Check:
    shift = _detectable_shift(n_ref, n_cur, report)
    enough = shift <= wanted
    return Check(
        name="test power",
        status=Status.PASS if enough else Status.WARN,
        measured=round(shift, 6),
        threshold=f"can detect a KS distance of {wanted:g}",
        message=(
            f"With {n_ref:,} reference and {n_cur:,} current rows the tests can see a shift "
            f"from a KS distance of {shift:.3f}"
            + (
                "."
                if enough
                else f": smaller shifts (the {wanted:g} asked for) go unseen; collect more "
                "rows before trusting 'no drift'."
            )
        ),
    )


def _remediation(
    status: Status,
    drifted: list[str],
    perf: dict[str, Any] | None,
    max_drop: float,
    cur: Scoring,
    ref: Scoring,
) -> str:
    if status is Status.PASS:
        return ""
    steps = []
    if not (cur.ok and ref.ok):
        steps.append(
            "The model fails on rows of its own data: validate inputs before the model (reject "
            "or impute what it cannot handle, e.g. missing values) so that every applicant "
            "gets a decision or a clear refusal."
        )
    if perf is not None and _measurable(perf) and perf["drop"] > max_drop:
        steps.append(
            f"Performance fell by more than {max_drop:g}: retrain on recent labelled "
            "data or roll back, and find out why before the next release."
        )
    if drifted:
        steps.append(
            "Investigate the drifted features (data pipeline change or a real shift "
            "in the population?) and check the model on the new population."
        )
    if perf is None:
        steps.append(
            "Collect labels for the current window (even a delayed sample) so "
            "performance can be monitored, not only drift."
        )
    steps.append("Build online monitoring that alerts on these same tests in production.")
    return " ".join(steps)


# -- evidence -----------------------------------------------------------------------------


def _drift_table(report: DriftReport, settings: MonitoringSettings) -> Table:
    rows = [
        [
            f.feature,
            f.kind,
            f.test,
            f.statistic,
            f.p_value,
            "yes" if f.significant else "no",
            f.psi,
            _band(f.psi, settings),
            None if not np.isfinite(f.wasserstein) else f.wasserstein,
            "yes" if f.drifted else "no",
        ]
        for f in report.features
    ]
    return Table(
        title=f"Feature drift ({report.engine} engine)",
        columns=[
            "feature",
            "kind",
            "test",
            "statistic",
            "p-value",
            "significant",
            "PSI",
            "PSI band",
            "Wasserstein / sd",
            "drifted",
        ],
        rows=rows,
        note=f"Significant when p < {report.threshold:.3g} = alpha {report.alpha:g} / "
        f"{len(report.features)} features ({report.correction}); drifted when also PSI >= "
        f"{settings.min_psi:g}. PSI on reference deciles (categories as they are), with bins "
        "for missing and unseen values; Wasserstein distance in reference standard deviations.",
    )


def _failures_table(which: str, scoring: Scoring) -> Table:
    return Table(
        title=f"Rows of the {which} data the model could not score",
        columns=["cause", "rows", "example row (1 = first)", "what the model raised"],
        rows=scoring.table_rows(),
        note=_upper_first(scoring.describe(which))
        + ("." if scoring.exact else " (an upper bound: not every row was located)."),
    )


def _missing_table(missing: dict[str, tuple[float, float]]) -> Table:
    rows = [
        [f, ref, cur, cur - ref]
        for f, (ref, cur) in sorted(missing.items(), key=lambda i: -(i[1][1] - i[1][0]))
        if ref > 0 or cur > 0
    ]
    return Table(
        title="Missing values per feature (share of rows)",
        columns=["feature", "reference", "current", "change"],
        rows=rows,
        note="Drift tests compare the values present; these shares show what is absent.",
    )


def _rehearsal_table(
    rehearsals: Rehearsals, performance: PerformanceRehearsal | None, settings: MonitoringSettings
) -> Table:
    names = {
        "yours": "your monitor (hooks.monitor)",
        "features": f"prodready {settings.online_engine} detector, features",
        "model output": f"prodready {settings.online_engine} detector, model output",
    }
    shifts = {
        "current": "current window's shift",
        "synthetic": f"synthetic: +{rehearsals.synthetic_shift:g} sd on numeric features",
    }
    rows: list[list[Any]] = []
    for (monitor, stream), r in rehearsals.results.items():
        rows.append(
            [
                names.get(monitor, monitor),
                shifts.get(stream, stream),
                f"{r.detected} of {r.runs}",
                r.median_delay,
                r.p90_delay,
                r.false_alarms_per_1000,
            ]
        )
    if performance is not None:
        summary = performance.as_dict()
        rows.append(
            [
                f"sliding {summary['alarm_below']:.3f} floor on the score of "
                f"{performance.window} labelled decisions",
                shifts["current"],
                f"{summary['detected']} of {summary['runs']}",
                summary["median_delay"],
                None,
                summary["false_alarms_per_1000"],
            ]
        )
    return Table(
        title="Online rehearsal: detection delay and false alarms",
        columns=[
            "monitor",
            "shift",
            "detected",
            "median delay",
            "p90 delay",
            "false alarms / 1,000",
        ],
        rows=rows,
        note=f"Each run streams {settings.warmup:,} unshifted decisions (held-out reference "
        f"rows), then at most {settings.max_decisions:,} shifted ones; delay = decisions after "
        f"the shift until the first alarm. Detectors calibrated to one false alarm per "
        f"{settings.ert:,.0f} decisions over a window of {settings.window}.",
    )


def _rehearsal_chart(rehearsals: Rehearsals) -> list[Evidence]:
    r = rehearsals.results.get(("features", "current")) or rehearsals.results.get(
        ("features", "synthetic")
    )
    if r is None or not r.trace.get("statistic"):
        return []
    x, statistic, marks = trace_window(r)
    threshold = marks["threshold"]
    detection = marks["detection"]
    return [
        Chart(
            title="Online detector on the features: statistic per decision (first run)",
            chart="line",
            x=x,
            series={
                "statistic": [float("nan") if v is None else v for v in statistic],
                "alarm threshold": [float(threshold)] * len(x),
            },
            xlabel="decision",
            ylabel="statistic",
            note=f"The shift starts at decision {marks['switch']:,}; "
            + (
                f"the alarm came at decision {detection:,}."
                if detection is not None
                else "no alarm within the run."
            ),
        )
    ]


def _segment_table(segments: list[dict[str, Any]], perf: dict[str, Any] | None) -> Table:
    metric = "" if perf is None else perf["metric"]
    return Table(
        title=f"{metric} by segment (largest drops first)",
        columns=["feature", "value", "reference", "current", "drop", "rows (ref / cur)"],
        rows=[
            [
                s["feature"],
                s["value"],
                s["reference"],
                s["current"],
                s["drop"],
                f"{s['rows']['reference']:,} / {s['rows']['current']:,}",
            ]
            for s in segments[:15]
        ],
        note="Each value of each categorical feature with enough labelled rows in both windows."
        + (f" {len(segments) - 15} more segments in results.json." if len(segments) > 15 else ""),
    )


def _performance_table(perf: dict[str, Any]) -> Table:
    rows = [
        [
            name,
            perf["all"]["reference"][name],
            perf["all"]["current"][name],
            perf["all"]["current"][name] - perf["all"]["reference"][name],
        ]
        for name in perf["all"]["reference"]
    ]
    intervals = ""
    if "drop_interval" in perf:
        level = f"{perf['confidence']:.0%}"

        def span(key: str) -> str:
            low, high = perf[key]
            return f"{low:.4f} to {high:.4f}"

        intervals = (
            f" {level} bootstrap intervals of {perf['metric']}: reference "
            f"{span('reference_interval')}, current {span('current_interval')}, drop "
            f"{span('drop_interval')}."
        )
    return Table(
        title="Performance",
        columns=["metric", "reference", "current", "change"],
        rows=rows,
        note=f"Current: {perf['labelled_rows']:,} labelled rows.{intervals}",
    )


def _drift_charts(
    report: DriftReport, ref: pd.DataFrame, cur: pd.DataFrame, categorical: list[str]
) -> list[Evidence]:
    # Most significant first; KS and chi-square statistics are not comparable, p-values are.
    worst = sorted((f for f in report.features if f.drifted), key=lambda f: f.p_value)
    cats = set(categorical)
    return [
        _hist_chart(
            f"Drifted feature: {f.feature}",
            ref[f.feature].to_numpy(),
            cur[f.feature].to_numpy(),
            "categorical" if f.feature in cats else "numeric",
            xlabel=f.feature,
        )
        for f in worst[:_MAX_DRIFT_CHARTS]
    ]


def _hist_chart(title: str, ref: np.ndarray, cur: np.ndarray, kind: str, xlabel: str) -> Chart:
    """Densities of both windows on common bins (quantiles of both for numbers)."""
    if kind == "categorical":
        # Bounded by construction: the largest categories, and the rest summed as "other".
        ref_share = pd.Series(ref).astype(str).value_counts(normalize=True)
        cur_share = pd.Series(cur).astype(str).value_counts(normalize=True)
        ranked = ref_share.add(cur_share, fill_value=0.0).sort_values(
            ascending=False, kind="stable"
        )
        labels = sorted(ranked.index[:_MAX_CATEGORIES])
        rest = len(ranked) - len(labels)
        series = {}
        for name, share in (("reference", ref_share), ("current", cur_share)):
            shown = share.reindex(labels, fill_value=0.0)
            values = shown.round(5).tolist()
            if rest:
                values.append(round(float(1.0 - shown.sum()), 5))
            series[name] = values
        return Chart(
            title=title,
            chart="barh",
            x=labels + ([f"other ({rest:,} more)"] if rest else []),
            series=series,
            xlabel="share of rows",
            ylabel=xlabel,
            note=f"The {_MAX_CATEGORIES} largest categories; the others summed." if rest else "",
        )
    ref_f = ref[np.isfinite(ref.astype(float))].astype(float)
    cur_f = cur[np.isfinite(cur.astype(float))].astype(float)
    both = np.concatenate([ref_f, cur_f])
    lo, hi = np.quantile(both, [0.005, 0.995]) if len(both) else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, _BINS + 1)
    ref_d, _ = np.histogram(ref_f, bins=edges, density=True)
    cur_d, _ = np.histogram(cur_f, bins=edges, density=True)
    return Chart(
        title=title,
        chart="hist",
        x=[float(e) for e in edges],
        series={"reference": [float(v) for v in ref_d], "current": [float(v) for v in cur_d]},
        xlabel=xlabel,
        ylabel="density",
        note="Central 99% of values; density per window.",
    )


def _upper_first(text: str) -> str:
    """``text`` with its first letter upper-case (``str.capitalize`` lowers all the rest)."""
    return text[:1].upper() + text[1:]
