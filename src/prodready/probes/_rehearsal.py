"""The online rehearsal of the monitoring probe: can a monitor catch a shift, and how fast?

A drift test on two finished windows says the data moved; it does not say that anyone would
have been told in time. The rehearsal answers that, on the system's own data
(:func:`prodready.online.rehearse` does the streaming and counting):

- the reference rows are split: some build (and calibrate) a detector, the others are the
  *unshifted* stream, on which every alarm is a false alarm;
- each run streams unshifted decisions, then switches to a *shifted* stream and counts the
  decisions until the alarm: the current window (the shift actually seen), and the unshifted
  rows with every numeric feature moved by ``synthetic_shift`` reference standard deviations
  (a shift of a known size, so that a window that did not drift still tells whether a shift
  would be caught);
- the monitors: the system's own (``hooks.monitor``) when it has one, prodready's online
  detector on the features, and the same detector on the model's output alone (label-free
  monitoring, which needs no feature pipeline).

This module computes; the probe judges and the views draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prodready.online import HookMonitor, Rehearsal, get_online_engine, rehearse
from prodready.probes._base import ProbeContext
from prodready.probes._scoring import _error_text

if TYPE_CHECKING:
    from prodready.probes.monitoring import MonitoringSettings
    from prodready.system import System

__all__ = ["Rehearsals", "run_rehearsals"]

#: The part of a trace kept for the figure: this many decisions before the switch, and after
#: the detection (the rest is warm-up nobody reads).
_TRACE_BEFORE = 400
_TRACE_AFTER = 200


@dataclass
class Rehearsals:
    """Every rehearsal run, by (monitor, stream), and the detector a team could adopt.

    ``results`` maps ``(monitor, stream)`` to a :class:`~prodready.online.Rehearsal`, with
    monitor "yours" (the hook), "features" or "model output", and stream "current" (the
    shift seen) or "synthetic". ``hook_error`` is what the system's monitor raised, if it
    did. ``config`` is the configuration of prodready's feature detector.
    """

    results: dict[tuple[str, str], Rehearsal]
    hook_error: str | None
    config: dict[str, Any]
    synthetic_shift: float
    skipped: str | None = None


def run_rehearsals(
    system: System,
    settings: MonitoringSettings,
    ref_x: pd.DataFrame,
    cur_x: pd.DataFrame,
    ref_out: np.ndarray,
    cur_out: np.ndarray,
    context: ProbeContext,
) -> Rehearsals:
    """Rehearse the system's monitor (if any) and prodready's detectors on both shifts."""
    if len(ref_x) < 4 * settings.window:
        # A detector needs a window of reference rows to build on and others to stream.
        return Rehearsals(
            {},
            None,
            {},
            settings.synthetic_shift,
            skipped=f"{len(ref_x):,} reference rows are too few to rehearse a monitor with a "
            f"window of {settings.window} decisions (at least {4 * settings.window:,} needed)",
        )
    rng = np.random.default_rng(context.seed)
    order = rng.permutation(len(ref_x))
    k = max(1, min(settings.rehearsal_reference_rows, len(ref_x) // 2))
    build, held = ref_x.iloc[order[:k]], ref_x.iloc[order[k:]]
    synthetic = _shifted(held, ref_x, system.categorical_columns, settings.synthetic_shift)
    streams = {"current": cur_x, "synthetic": synthetic}
    common: dict[str, Any] = {
        "warmup": settings.warmup,
        "max_decisions": settings.max_decisions,
        "runs": settings.rehearsal_runs,
        "seed": context.seed,
        "cancel": context.cancel,
    }
    engine = get_online_engine(settings.online_engine)
    context.report("online rehearsal: calibrating a detector")
    detector = engine.build(
        build,
        categorical=system.categorical_columns,
        ert=settings.ert,
        window=settings.window,
        seed=context.seed,
        cancel=context.cancel,
    )
    results: dict[tuple[str, str], Rehearsal] = {}
    hook_error = None
    if "monitor" in system.hooks:
        yours = HookMonitor(system.hook("monitor"), label="your monitor (hooks.monitor)")
        context.report("online rehearsal: your monitor")
        try:
            for stream, shifted in streams.items():
                results[("yours", stream)] = rehearse(yours, build, held, shifted, **common)
        except Exception as exc:  # the system's monitor failing is the system's failure
            hook_error = _error_text(exc)
    context.report("online rehearsal: prodready's detector")
    for stream, shifted in streams.items():
        results[("features", stream)] = rehearse(
            detector, build, held, shifted, categorical=system.categorical_columns, **common
        )
    if len(ref_out) >= 4 * settings.window and len(cur_out):
        results[("model output", "current")] = _output_rehearsal(
            system, settings, ref_out, cur_out, rng, common
        )
    return Rehearsals(results, hook_error, detector.config(), settings.synthetic_shift)


def _output_rehearsal(
    system: System,
    settings: MonitoringSettings,
    ref_out: np.ndarray,
    cur_out: np.ndarray,
    rng: np.random.Generator,
    common: dict[str, Any],
) -> Rehearsal:
    """The same detector on the model's output alone (classes are categories)."""
    order = rng.permutation(len(ref_out))
    k = max(1, min(settings.rehearsal_reference_rows, len(ref_out) // 2))
    categorical = ["prediction"] if system.task == "multiclass" else []

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"prediction": values})

    build, held = frame(ref_out[order[:k]]), frame(ref_out[order[k:]])
    engine = get_online_engine(settings.online_engine)
    detector = engine.build(
        build,
        categorical=categorical,
        ert=settings.ert,
        window=settings.window,
        seed=common["seed"],
        cancel=common["cancel"],
    )
    return rehearse(detector, build, held, frame(cur_out), categorical=categorical, **common)


def _shifted(
    rows: pd.DataFrame, reference: pd.DataFrame, categorical: list[str], size: float
) -> pd.DataFrame:
    """``rows`` with every numeric feature moved by ``size`` reference standard deviations."""
    shifted = rows.copy()
    for column in rows.columns:
        if column in categorical or not pd.api.types.is_numeric_dtype(rows[column]):
            continue
        if pd.api.types.is_bool_dtype(rows[column]):
            continue
        std = float(reference[column].std())
        if np.isfinite(std) and std > 0:
            shifted[column] = rows[column].astype(float) + size * std
    return shifted


@dataclass
class PerformanceRehearsal:
    """A sliding-window performance monitor rehearsed on labelled decisions.

    The monitor scores the last ``window`` labelled decisions every ``step`` decisions and
    alarms when the score falls below ``reference score - max drop``; after an alarm its
    window empties. ``delays`` (decisions after the switch to the current window until the
    alarm, None if none within ``max_decisions``) and ``false_alarms_per_1000`` (on held-out
    reference decisions) are measured as for the drift monitors.
    """

    window: int
    step: int
    floor: float
    delays: list[int | None]
    false_alarms_per_1000: float

    def as_dict(self) -> dict[str, Any]:
        detected = [d for d in self.delays if d is not None]
        return {
            "window": self.window,
            "step": self.step,
            "alarm_below": self.floor,
            "runs": len(self.delays),
            "detected": len(detected),
            "median_delay": float(np.median(detected))
            if len(detected) * 2 > len(self.delays)
            else None,
            "false_alarms_per_1000": self.false_alarms_per_1000,
        }


def rehearse_performance(
    metric: Any,
    ref: tuple[np.ndarray, np.ndarray],
    cur: tuple[np.ndarray, np.ndarray],
    *,
    floor: float,
    window: int,
    warmup: int,
    max_decisions: int,
    runs: int,
    seed: int,
) -> PerformanceRehearsal:
    """Stream labelled reference decisions, then current ones, into a sliding-window score."""
    rng = np.random.default_rng(seed)
    step = max(1, window // 10)
    delays: list[int | None] = []
    false_alarms, unshifted = 0, 0
    for _ in range(runs):
        before = rng.integers(0, len(ref[0]), size=warmup)
        after = rng.integers(0, len(cur[0]), size=max_decisions)
        y = np.concatenate([ref[0][before], cur[0][after]])
        out = np.concatenate([ref[1][before], cur[1][after]])
        start, delay = 0, None
        for end in range(window, len(y) + 1, step):
            if end - start < window:
                continue
            score = metric(y[end - window : end], out[end - window : end])
            if np.isfinite(score) and score < floor:
                if end <= warmup:
                    false_alarms += 1
                    start = end  # the alarm was acknowledged: the window refills
                else:
                    delay = end - warmup
                    break
        unshifted += warmup
        delays.append(delay)
    rate = 1000 * false_alarms / unshifted if unshifted else 0.0
    return PerformanceRehearsal(window, step, floor, delays, rate)


def trace_window(rehearsal: Rehearsal) -> tuple[list[int], list[float | None], dict[str, Any]]:
    """The part of the first run's trace worth a figure: decisions, statistic, marks."""
    trace = rehearsal.trace
    statistic: list[float | None] = list(trace.get("statistic") or [])
    switch = int(trace.get("switch") or 0)
    detection = trace.get("detection")
    start = max(0, switch - _TRACE_BEFORE)
    end = len(statistic) if detection is None else min(len(statistic), detection + _TRACE_AFTER)
    marks = {"switch": switch, "detection": detection, "threshold": trace.get("threshold")}
    return list(range(start, end)), statistic[start:end], marks
