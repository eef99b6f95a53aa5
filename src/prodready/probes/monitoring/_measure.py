"""Measuring for the monitoring probe: the model's outputs, performance, missing values.

The model's outputs on each window (:func:`_outputs`), the main metric on both windows
(:func:`_performance`) with bootstrap intervals (:func:`_add_intervals`) and per segment
(:func:`_segments`), the share of missing values and the distinct values of categorical
features, and the smallest shift the drift tests can see (:func:`_detectable_shift`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prodready.drift import DriftReport
from prodready.probes._performance import Metric, bootstrap_drop, metric_function, segment_drops
from prodready.probes._scoring import Scoring
from prodready.probes.monitoring._settings import MonitoringSettings
from prodready.system import System


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
    metric: Metric,
    labelled: list[tuple[np.ndarray, np.ndarray]],
    settings: MonitoringSettings,
    seed: int,
) -> None:
    """Bootstrap intervals of the main metric on both windows and of its drop, into ``perf``.

    ``labelled`` holds (labels, outputs) of the reference's and the current window's
    labelled, scored rows (:func:`_labelled`).
    """
    ref_ci, cur_ci, drop_ci = bootstrap_drop(
        metric,
        labelled[0],
        labelled[1],
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


def _missing_shares(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per feature: the share of missing values in the reference and in the current window."""
    ref_na, cur_na = ref.isna().mean(), cur.isna().mean()
    return {str(c): (float(ref_na[c]), float(cur_na[c])) for c in ref.columns}


def _cardinality(ref: pd.DataFrame, cur: pd.DataFrame, categorical: list[str]) -> dict[str, int]:
    """Distinct values of each categorical feature over both windows."""
    return {
        str(c): int(pd.concat([ref[c], cur[c]], ignore_index=True).nunique(dropna=True))
        for c in categorical
    }


def _detectable_shift(n_ref: int, n_cur: int, report: DriftReport) -> float:
    """The smallest KS distance the corrected test calls significant with these row counts."""
    if n_ref == 0 or n_cur == 0:
        return 1.0
    c = float(np.sqrt(-np.log(report.threshold / 2) / 2))
    return min(1.0, c * float(np.sqrt((n_ref + n_cur) / (n_ref * n_cur))))
