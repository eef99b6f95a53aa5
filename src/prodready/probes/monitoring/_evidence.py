"""Evidence of the monitoring probe: the tables and charts a finding shows.

Feature drift, unscorable rows, missing values, performance (overall and by segment), the
online rehearsal (a table and the detector's statistic per decision), and the distributions
of drifted features and of the model's output on both windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prodready.drift import DriftReport
from prodready.probes._rehearsal import PerformanceRehearsal, Rehearsals, trace_window
from prodready.probes._scoring import Scoring, _upper_first
from prodready.probes.monitoring._checks import _band
from prodready.probes.monitoring._settings import MonitoringSettings
from prodready.results import Chart, Evidence, Table

_MAX_DRIFT_CHARTS = 4
_BINS = 20
_MAX_CATEGORIES = 20


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
        "for missing and unseen values; Wasserstein distance in reference standard deviations."
        + _sketch_note(report),
    )


def _sketch_note(report: DriftReport) -> str:
    """What the table's sketched features (too large for memory) were tested on."""
    sketched = [f for f in report.features if f.sketch is not None]
    return "".join(f" {f.feature}: {f.sketch.describe()}." for f in sketched if f.sketch)


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
