"""The :class:`MonitoringProbe`: runs the measurements, the checks and the evidence.

:meth:`MonitoringProbe.run` measures (:mod:`~prodready.probes.monitoring._measure`), rehearses
online monitors (:mod:`prodready.probes._rehearsal`), judges
(:mod:`~prodready.probes.monitoring._checks`) and shows
(:mod:`~prodready.probes.monitoring._evidence`), then assembles the finding: its summary,
measurements (without wall times) and thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pandas as pd

from prodready._exceptions import MissingDependencyError, SpecError
from prodready.datasets import sample_note
from prodready.drift import DriftReport, detect_columns, get_engine
from prodready.online import Rehearsal, get_online_engine
from prodready.probes._base import Probe, ProbeContext
from prodready.probes._performance import metric_function
from prodready.probes._rehearsal import rehearse_performance, run_rehearsals
from prodready.probes._scoring import Method, _upper_first, score_model
from prodready.probes.monitoring._checks import (
    _all_missing,
    _cardinality_check,
    _feature_check,
    _in_sample_check,
    _measurable,
    _missing_check,
    _monitor_check,
    _performance_check,
    _power_check,
    _prediction_check,
    _remediation,
    _scoring_check,
    _segment_check,
    _unmeasured,
)
from prodready.probes.monitoring._common import _names
from prodready.probes.monitoring._evidence import (
    _drift_charts,
    _drift_table,
    _failures_table,
    _hist_chart,
    _missing_table,
    _performance_table,
    _rehearsal_chart,
    _rehearsal_table,
    _segment_table,
)
from prodready.probes.monitoring._measure import (
    _add_intervals,
    _cardinality,
    _detectable_shift,
    _labelled,
    _missing_shares,
    _output_label,
    _outputs,
    _performance,
    _positive,
    _segments,
)
from prodready.probes.monitoring._settings import MonitoringSettings
from prodready.results import Check, Evidence, Finding
from prodready.system import System


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
        large = system.reference_source is not None or system.current_source is not None
        if large:
            # A Parquet dataset larger than memory: every row, one column at a time.
            features = detect_columns(
                system.reference_source or ref_x,
                system.current_source or cur_x,
                columns=system.feature_columns,
                categorical=system.categorical_columns,
                alpha=settings.alpha,
                min_psi=settings.min_psi,
                max_column_bytes=settings.max_column_bytes,
                sketch_delta=settings.sketch_delta,
                seed=context.seed,
                max_workers=settings.drift_workers,
            )
        else:
            features = engine.detect(
                ref_x,
                cur_x,
                categorical=system.categorical_columns,
                alpha=settings.alpha,
                min_psi=settings.min_psi,
            )
        # The drift tests' rows: every row of a Parquet dataset, not its sample.
        n_ref = len(ref_x) if system.reference_source is None else system.reference_source.num_rows
        n_cur = len(cur_x) if system.current_source is None else system.current_source.num_rows
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
        # The labelled, scored rows and the metric, once for the intervals and the rehearsal.
        measurable = perf is not None and _measurable(perf)
        labelled = (
            _labelled(system, ref_out, cur_out, ref_scoring, cur_scoring) if measurable else []
        )
        metric = metric_function(system.task or "", _positive(system))
        if perf is not None and measurable:
            _add_intervals(perf, metric, labelled, settings, context.seed)
            segments = _segments(system, ref_out, cur_out, ref_scoring, cur_scoring, settings)
        context.check_deadline()
        rehearsals = run_rehearsals(system, settings, ref_x, cur_x, ref_out, cur_out, context)
        performance_monitor = None
        if perf is not None and measurable and rehearsals.results:
            performance_monitor = rehearse_performance(
                metric,
                labelled[0],
                labelled[1],
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
        monitor = _monitor_check(rehearsals, settings, bool(features.drifted), system.hooks)
        checks = [
            _scoring_check(ref_scoring, cur_scoring),
            _missing_check(missing, settings.max_missing_increase),
            _feature_check(features, settings),
            _cardinality_check(cardinality, settings.max_categories, len(ref_x) + len(cur_x)),
            _power_check(n_ref, n_cur, features, settings.min_detectable_shift),
            _prediction_check(predictions, settings),
            _performance_check(perf, settings.max_performance_drop, system.target),
            _segment_check(segments, settings.max_performance_drop, settings.min_segment_rows),
            _in_sample_check(perf, settings.reference_is_training),
            monitor,
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
        note = sample_note(system)
        if large:
            parts.append(_large_data_sentence(features, note))
            checks = [_on_sample(c, note) for c in checks]
        summary = "; ".join(parts) + "."
        finding = Finding(
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
                "detectable_shift": _detectable_shift(n_ref, n_cur, features),
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
                status,
                drifted,
                perf,
                settings.max_performance_drop,
                cur_scoring,
                ref_scoring,
                monitor,
            ),
            not_assessed=_unmeasured(perf),
        )
        if large:
            finding.measurements["data"] = {
                which: None if handle is None else handle.describe()
                for which, handle in (
                    ("reference", system.reference_source),
                    ("current", system.current_source),
                )
            }
            finding.measurements["data_sample"] = note
            finding.measurements["drift_rows"] = {"reference": n_ref, "current": n_cur}
            finding.measurements["sketched_features"] = {
                f.feature: asdict(f.sketch) for f in features.features if f.sketch is not None
            }
            finding.thresholds["max_column_bytes"] = settings.max_column_bytes
            finding.thresholds["sketch_delta"] = settings.sketch_delta
        return finding


#: Checks that judge the model's outputs: on the sample when the data was sampled.
_PREDICTING_CHECKS = ("model scores every row", "prediction drift", "performance")


def _on_sample(check: Check, note: str) -> Check:
    """``check``, its message saying it was measured on the sample (when it predicts)."""
    if not note or check.name not in (*_PREDICTING_CHECKS, "performance by segment"):
        return check
    return replace(check, message=check.message.rstrip(".") + f"; measured {note}.")


def _large_data_sentence(report: DriftReport, note: str) -> str:
    """How the data larger than memory was used, for the summary."""
    text = "feature drift on every row, read column by column from Parquet"
    sketched = [f for f in report.features if f.sketch is not None]
    if sketched:
        shown = ", ".join(f.feature for f in sketched[:5])
        more = f" and {len(sketched) - 5} more" if len(sketched) > 5 else ""
        worst = max(sketched, key=lambda f: f.sketch.ks_error_bound if f.sketch else 0.0)
        assert worst.sketch is not None
        text += (
            f" (KS of {shown}{more} from a sketch: |KS error| <= "
            f"{worst.sketch.ks_error_bound:.4f} with probability >= "
            f"{worst.sketch.confidence:.3f}, max_column_bytes)"
        )
    if note:
        text += f"; scoring, prediction drift and performance {note}"
    return text


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
