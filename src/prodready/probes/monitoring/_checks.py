"""Judging for the monitoring probe: one :class:`~prodready.results.Check` per aspect.

Scoring, missing values, feature and prediction drift (judged by their PSI band), categorical
cardinality, test power, performance (on its bootstrap interval) and by segment, an in-sample
reference, the online rehearsal of the monitors (:func:`_monitor_check`), and the remediation
the finding recommends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prodready.drift import DriftReport, psi_band
from prodready.online import Rehearsal
from prodready.probes._rehearsal import Rehearsals
from prodready.probes._scoring import Scoring, _upper_first
from prodready.probes.monitoring._common import _names
from prodready.probes.monitoring._measure import _detectable_shift
from prodready.probes.monitoring._settings import MonitoringSettings
from prodready.results import Check, Status


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
    sketched = [f for f in report.features if f.sketch is not None]
    if sketched:
        # Columns larger than monitoring.max_column_bytes: their KS comes with its error bound.
        message += (
            " Tested on a sketch (a column larger than max_column_bytes): "
            + "; ".join(f"{f.feature} {f.sketch.describe()}" for f in sketched[:5] if f.sketch)
            + (f" and {len(sketched) - 5} more" if len(sketched) > 5 else "")
            + "."
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
    monitor: Check,
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
    if monitor.status is not Status.PASS:
        steps.append(
            "Put a drift monitor in production and name it in hooks.monitor so it is "
            "rehearsed: monitor.json in the run folder is a detector that caught this shift."
            if "No monitor of yours" in monitor.message
            else "Fix your monitor (hooks.monitor) so it catches a shift within the delay "
            "set, without more false alarms than set."
        )
    return " ".join(steps)
