"""Q5 — Is every AI decision traceable and explainable?

This probe does the *explainable* half: it explains a sample of decisions with SHAP (the
exact tree or linear explainer where the model allows, a model-agnostic one otherwise) and
checks that the explanations can be trusted:

- local accuracy: base value + sum of contributions equals the model's output, per decision;
- stability: explaining the same decisions again gives the same contributions;
- global importance: which input features drive decisions overall;
- reasons per decision, stated in the applicant's own input features (for a Pipeline,
  encoded columns are summed back to the column they came from) and by direction: what
  pushed the decision towards its outcome and what pushed against it, as an adverse-action
  notice needs.

One output is explained, and named the same everywhere (chart, checks, reasons): for a binary
classifier the positive class (``explainability.positive_class``, default the second class),
for a multi-class one the class the model chose for each decision, for a regressor its
prediction. The model scores the sampled decisions through
:func:`~prodready.probes.score_model`: decisions it raises on are counted and FAIL the
question; the others are still explained.

The *traceable* half sends decisions through the system and checks its decision log (see
:mod:`prodready.probes.explainability._trace`). The finding is the worse of the two halves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodready._settings import require
from prodready.explain import Explanation, explain
from prodready.explain.outputs import _class_label
from prodready.probes._base import Probe, ProbeContext
from prodready.probes._scoring import Scoring, _upper_first, score_model
from prodready.probes.explainability._trace import Trace, trace
from prodready.results import Chart, Check, Evidence, Finding, Status, Table
from prodready.system import System

__all__ = ["ExplainabilityProbe", "ExplainabilitySettings"]

_STABILITY_ROWS = 50
_SHOWN_DECISIONS = 10
_BACKGROUND_ROWS = 100


@dataclass(frozen=True)
class ExplainabilitySettings:
    """Settings of the explainability probe (the spec's ``explainability:`` section).

    - ``sample``: how many decisions get a SHAP explanation.
    - ``additivity_tolerance``: largest allowed |base value + sum of contributions - model
      output| (local accuracy), and largest change of a contribution when the same decisions
      are explained again (stability), as a fraction of the output scale (the largest
      |model output|, at least 1: for log-odds or probabilities, plain model-output units).
    - ``top_reasons``: reasons given per explained decision, in each direction.
    - ``positive_class``: for a binary classifier, the class whose probability (or log-odds)
      is explained; default the second of the model's ``classes_`` (scikit-learn's positive
      class). Give the unfavourable outcome ("default", 1) for adverse-action reasons.

    The traceable half:

    - ``trace_sample``: decisions sent through the system (its endpoint, or the model
      in-process) and looked up in its decision log;
    - ``replay_sample``: how many of them (at most all) are sent again, which must give the
      logged output;
    - ``replay_tolerance``: largest difference allowed between a logged output and the answer
      (or the replayed answer), per output value.
    """

    sample: int = 1000
    additivity_tolerance: float = 1e-6
    top_reasons: int = 3
    positive_class: str | int | None = None
    trace_sample: int = 50
    replay_sample: int = 20
    replay_tolerance: float = 1e-9

    def __post_init__(self) -> None:
        require(
            1 <= self.trace_sample <= 10_000,
            "trace_sample",
            f"is {self.trace_sample}",
            "an integer from 1 to 10,000",
        )
        require(
            0 <= self.replay_sample <= 10_000,
            "replay_sample",
            f"is {self.replay_sample}",
            "an integer from 0 to 10,000",
        )
        require(
            math.isfinite(self.replay_tolerance) and self.replay_tolerance >= 0,
            "replay_tolerance",
            f"is {self.replay_tolerance}",
            "a number >= 0",
        )
        require(self.sample >= 1, "sample", f"is {self.sample}", "an integer >= 1")
        require(
            self.additivity_tolerance > 0,
            "additivity_tolerance",
            f"is {self.additivity_tolerance}",
            "a number > 0",
        )
        require(self.top_reasons >= 1, "top_reasons", f"is {self.top_reasons}", "an integer >= 1")


@dataclass
class _Explained:
    """The one explained output per decision, picked from a SHAP explanation.

    ``contributions`` (rows, features), ``base`` and ``output`` (rows,) are in the units of
    ``names[i]`` for row ``i``; ``label`` names the explained output for the whole sample.
    """

    contributions: np.ndarray
    base: np.ndarray
    output: np.ndarray
    names: list[str]
    label: str


class ExplainabilityProbe(Probe):
    """SHAP explanations of sampled decisions, checked for local accuracy and stability."""

    question = "Q5"
    settings_class = ExplainabilitySettings
    serves = True  # the traceable half sends decisions through the system

    def preflight(self, system: System) -> None:
        settings: ExplainabilitySettings = self.settings(system)
        _positive_index(system, settings)  # a class the model does not have is a spec error

    def run(self, system: System, context: ProbeContext) -> Finding:
        settings: ExplainabilitySettings = self.settings(system)
        # Explain recent decisions when there are any: those are the ones to account for.
        which: Literal["reference", "current"] = (
            "current" if system.current is not None else "reference"
        )
        data = system.X(which)
        rng = np.random.default_rng(context.seed)
        n = min(settings.sample, len(data))
        rows = np.sort(rng.choice(len(data), size=n, replace=False))
        ref = system.X("reference")
        background = ref.iloc[
            np.sort(rng.choice(len(ref), size=min(_BACKGROUND_ROWS, len(ref)), replace=False))
        ]

        # Decisions the model cannot make are the system failing: counted, not explained.
        context.report("scoring the sampled decisions")
        sample = data.iloc[rows]
        decided = score_model(system.model, sample, "predict", context=context)
        scoring = decided  # the one whose failures the finding reports
        proba: np.ndarray | None = None
        ok = decided.scored.copy()
        if system.task == "binary":
            proba_scoring = score_model(system.model, sample, "predict_proba", context=context)
            ok &= proba_scoring.scored
            proba = _aligned(proba_scoring, ok)
            if not proba_scoring.ok and decided.ok:
                scoring = proba_scoring
        decisions = _aligned(decided, ok)
        rows, sample = rows[ok], sample[ok]
        scoring_check = _scoring_check(scoring, which)
        if len(rows) == 0:
            return _with_trace(
                Finding(
                    question=self.question,
                    status=Status.FAIL,
                    summary=_upper_first(scoring.describe(f"sampled {which}"))
                    + ": nothing could be explained.",
                    checks=[scoring_check],
                    evidence=[_failures_table(scoring, which)],
                    measurements={"decisions_explained": 0, "unscorable_rows": scoring.n_failed},
                    remediation=_SCORING_REMEDIATION,
                ),
                trace(
                    system,
                    settings.trace_sample,
                    settings.replay_sample,
                    settings.replay_tolerance,
                    context,
                ),
            )

        context.report("explaining decisions", 0.1)
        first = explain(system.model, sample, background=background, seed=context.seed)
        context.check_deadline()
        k = min(_STABILITY_ROWS, len(rows))
        context.report("explaining again (stability)", 0.7)
        again = explain(system.model, sample.iloc[:k], background=background, seed=context.seed)
        instability = float(np.max(np.abs(again.values - first.values[:k]))) if k else 0.0

        explained = _pick_output(system, settings, first, decisions)
        tol = settings.additivity_tolerance
        # Errors are judged relative to the output's magnitude: float64 sums of house prices
        # carry rounding errors that log-odds do not.
        scale = max(1.0, float(np.max(np.abs(first.model_output))))
        additivity = first.additivity_error() / scale
        instability /= scale
        checks = [
            Check(
                name="local accuracy",
                status=Status.PASS if additivity <= tol else Status.FAIL,
                measured=additivity,
                threshold=f"<= {tol:g}",
                message=_accuracy_sentence(additivity, tol, len(rows), explained.label, scale),
            ),
            Check(
                name="stability",
                status=Status.PASS if instability <= tol else Status.FAIL,
                measured=instability,
                threshold=f"<= {tol:g}",
                message=_stability_sentence(instability, tol, k),
            ),
        ]
        checks.insert(0, scoring_check)
        importance = _importance(first.feature_names, explained.contributions)
        missing = _missing_drivers(sample, importance)
        checks.append(_drivers_check(missing, len(rows)))
        status = Finding.worst(checks)
        evidence: list[Evidence] = []
        if not scoring.ok:
            evidence.append(_failures_table(scoring, which))
        evidence += [
            Chart(
                title=f"Global importance: mean |contribution| to the {explained.label}",
                chart="barh",
                x=list(importance),
                series={"importance": list(importance.values())},
                xlabel=f"mean |SHAP value| ({explained.label})",
                ylabel="input feature",
            ),
            _reasons_table(
                system,
                explained,
                first.feature_names,
                sample,
                rows,
                which,
                decisions,
                proba,
                settings,
            ),
        ]
        traced = trace(
            system,
            settings.trace_sample,
            settings.replay_sample,
            settings.replay_tolerance,
            context,
        )
        finding = Finding(
            question=self.question,
            status=status,
            summary=_summary(
                which,
                len(rows),
                first.explainer,
                additivity,
                instability,
                tol,
                importance,
                scoring,
            ),
            checks=checks,
            measurements={
                "explainer": first.explainer,
                "decisions_explained": len(rows),
                "explained_data": which,
                "explained_output": explained.label,
                "output": first.output_names,
                "additivity_error": additivity,
                "output_scale": scale,
                "instability": instability,
                "importance": importance,
                "unscorable_rows": scoring.n_failed,
                "top_drivers_missing_share": missing,
            },
            thresholds={
                "additivity_tolerance": tol,
                "sample": settings.sample,
                "top_reasons": settings.top_reasons,
            },
            evidence=evidence,
            remediation=_remediation(status, scoring),
        )
        from prodready.datasets import sample_note

        note = sample_note(system)
        if note:  # a Parquet dataset above data.sample_rows: the decisions come from its sample
            finding.summary = finding.summary.rstrip(".") + f"; decisions drawn {note}."
            finding.measurements["data_sample"] = note
        return _with_trace(finding, traced)


def _with_trace(finding: Finding, traced: Trace) -> Finding:
    """``finding`` (the explainable half) with the traceable half's checks and evidence added."""
    finding.checks += traced.checks
    finding.evidence += traced.evidence
    finding.measurements.update(traced.measurements)
    finding.not_assessed += traced.not_assessed
    finding.status = Finding.worst(finding.checks)
    finding.summary = finding.summary.rstrip(".") + f"; {traced.sentence}."
    if traced.remediation:
        finding.remediation = " ".join(p for p in (finding.remediation, traced.remediation) if p)
    return finding


# -- the explained output -------------------------------------------------------------------


def _positive_index(system: System, settings: ExplainabilitySettings) -> int:
    """Index in ``classes_`` of the class explained for a binary model (default: the second)."""
    classes = list(getattr(system.model, "classes_", []))
    if system.task != "binary" or settings.positive_class is None:
        return len(classes) - 1 if classes else 0
    wanted = str(settings.positive_class)
    for i, c in enumerate(classes):
        if str(c) == wanted:
            return i
    from prodready._exceptions import SpecError

    raise SpecError(
        f"is {settings.positive_class!r}, not a class of the model",
        source=system.source,
        field="explainability.positive_class",
        expected="one of " + ", ".join(repr(str(c)) for c in classes),
    )


def _pick_output(
    system: System, settings: ExplainabilitySettings, exp: Explanation, decisions: np.ndarray
) -> _Explained:
    """One output per decision: positive class (binary), chosen class, or the prediction."""
    n_rows, _, n_out = exp.values.shape
    classes = list(getattr(system.model, "classes_", []))
    if system.task == "multiclass" and n_out > 1:
        # The class the model chose is the decision to justify.
        index = {str(c): i for i, c in enumerate(classes)}
        cols = [
            index.get(str(d), int(np.argmax(exp.model_output[i]))) for i, d in enumerate(decisions)
        ]
        take = np.arange(n_rows)
        return _Explained(
            exp.values[take, :, cols],
            exp.base_values[take, cols],
            exp.model_output[take, cols],
            [exp.output_names[c] for c in cols],
            "output of the class the model chose ("
            + exp.output_names[0].rsplit(" of class ", 1)[0]
            + ")",
        )
    if system.task == "binary":
        positive = _positive_index(system, settings)
        if n_out == 2:
            col = positive
            return _Explained(
                exp.values[:, :, col],
                exp.base_values[:, col],
                exp.model_output[:, col],
                [exp.output_names[col]] * n_rows,
                exp.output_names[col],
            )
        # One score for the second class (log-odds): the first class's is its negative.
        sign = 1.0 if positive == len(classes) - 1 else -1.0
        name = exp.output_names[0]
        if sign < 0 and " of class " in name:
            name = name.rsplit(" of class ", 1)[0] + f" of class {_class_label(classes[positive])}"
        return _Explained(
            sign * exp.values[:, :, 0],
            sign * exp.base_values[:, 0],
            sign * exp.model_output[:, 0],
            [name] * n_rows,
            name,
        )
    return _Explained(
        exp.values[:, :, 0],
        exp.base_values[:, 0],
        exp.model_output[:, 0],
        [exp.output_names[0]] * n_rows,
        exp.output_names[0],
    )


def _importance(features: list[str], contributions: np.ndarray) -> dict[str, float]:
    """Mean |contribution| per feature to the explained output, most important first."""
    mean = np.abs(contributions).mean(axis=0) if len(contributions) else np.zeros(len(features))
    order = sorted(range(len(features)), key=lambda j: -mean[j])
    return {features[j]: float(mean[j]) for j in order}


def _missing_drivers(sample: pd.DataFrame, importance: dict[str, float]) -> dict[str, float]:
    """Share of explained decisions in which each of the top three drivers was missing."""
    top = [f for f in list(importance)[:3] if f in sample.columns]
    return {f: float(sample[f].isna().mean()) for f in top}


def _drivers_check(missing: dict[str, float], n: int) -> Check:
    # A driver missing in most decisions explains how the model treats an absent value, not
    # the applicant: the explanations are right, the decisions rest on nothing.
    absent = {f: share for f, share in missing.items() if share > 0.5}
    return Check(
        name="top drivers present",
        status=Status.WARN if absent else Status.PASS,
        measured=max(missing.values(), default=0.0),
        threshold="each top driver present in most explained decisions",
        message=(
            "; ".join(
                f"{f}, a top driver, is missing in {s:.0%} of the {n:,} explained decisions"
                for f, s in absent.items()
            )
            + ": the explanations credit the absence of a value."
            if absent
            else "The top drivers have values in most explained decisions."
        ),
    )


# -- words ------------------------------------------------------------------------------------


def _accuracy_sentence(error: float, tol: float, n: int, label: str, scale: float) -> str:
    if error <= tol:
        return (
            f"The explanations of {n} decisions add up to the model's output ({label}): "
            f"largest error {error:.1g} of the output scale {scale:.4g}."
        )
    return (
        f"The explanations do not add up to the model's output ({label}): off by up to "
        f"{error:.3g} of the output scale {scale:.4g} over {n} decisions."
    )


def _stability_sentence(instability: float, tol: float, k: int) -> str:
    if instability == 0:
        return f"Explaining {k} decisions again gave identical contributions: repeatable."
    if instability <= tol:
        return (
            f"Explaining {k} decisions again changed a contribution by at most "
            f"{instability:.1g} of the output scale: repeatable."
        )
    return (
        f"Explaining {k} decisions again changed a contribution by up to {instability:.3g} "
        "of the output scale: the explanations are not repeatable."
    )


def _summary(
    which: str,
    n: int,
    explainer: str,
    additivity: float,
    instability: float,
    tol: float,
    importance: dict[str, float],
    scoring: Scoring,
) -> str:
    how = {
        "tree": "the exact tree explainer",
        "linear": "the exact linear explainer",
        "permutation": "a model-agnostic (estimated) explainer",
    }.get(explainer, f"the {explainer} explainer")
    exact = (
        f"explanations are exact (largest error {additivity:.1g})"
        if additivity <= tol
        else f"explanations do NOT add up to the model's output (error up to {additivity:.2g})"
    )
    repeatable = "repeatable" if instability <= tol else "NOT repeatable"
    top = ", ".join(list(importance)[:3])
    text = (
        f"{n:,} {which} decisions explained with {how}; {exact} and {repeatable}; "
        f"top drivers: {top}."
    )
    if not scoring.ok:
        text = _upper_first(scoring.describe(f"sampled {which}")) + ". " + _upper_first(text)
    return _upper_first(text)


_SCORING_REMEDIATION = (
    "The model fails on some of its own decisions: validate inputs before the model (reject or "
    "impute what it cannot handle) so every decision can be made and explained."
)


def _remediation(status: Status, scoring: Scoring) -> str:
    if status is Status.PASS:
        return ""
    steps = [] if scoring.ok else [_SCORING_REMEDIATION]
    steps.append(
        "Explanations that do not add up to the model's output, or change between two "
        "runs, cannot justify a decision: check the model type is supported by an exact "
        "explainer, and that prediction is deterministic."
    )
    return " ".join(steps)


# -- evidence -----------------------------------------------------------------------------


def _scoring_check(scoring: Scoring, which: str) -> Check:
    return Check(
        name="model scores every row",
        status=Status.PASS if scoring.ok else Status.FAIL,
        measured=scoring.n_failed,
        threshold="no sampled decision the model cannot make",
        message=_upper_first(scoring.describe(f"sampled {which}")) + ".",
    )


def _failures_table(scoring: Scoring, which: str) -> Table:
    return Table(
        title=f"Sampled {which} decisions the model could not make",
        columns=["cause", "rows", "example (n-th sampled row)", "what the model raised"],
        rows=scoring.table_rows(),
        note=_upper_first(scoring.describe(f"sampled {which}")) + ".",
    )


def _aligned(scoring: Scoring, ok: np.ndarray) -> np.ndarray:
    """The scoring's outputs restricted to the rows in ``ok`` (a subset of its scored rows)."""
    keep = ok[scoring.scored]
    outputs: np.ndarray = scoring.outputs[keep]
    return outputs


def _reasons_table(
    system: System,
    explained: _Explained,
    features: list[str],
    sample: pd.DataFrame,
    rows: np.ndarray,
    which: str,
    decisions: np.ndarray,
    proba: np.ndarray | None,
    settings: ExplainabilitySettings,
) -> Table:
    """Reasons for the first decisions: what pushed the explained output up, and down."""
    shown = min(_SHOWN_DECISIONS, len(sample))
    k = settings.top_reasons
    ids = _decision_ids(system, which, rows[:shown])
    frame = system.current if which == "current" else system.reference
    assert frame is not None
    if system.task == "binary":
        classes = list(system.model.classes_)
        positive = classes[_positive_index(system, settings)]
        other = next(c for c in classes if c != positive)
        up = f"top {k} pushing towards class {_class_label(positive)}"
        down = f"top {k} pushing towards class {_class_label(other)}"
    elif system.task == "multiclass":
        up, down = f"top {k} pushing towards the decision", f"top {k} pushing against it"
    else:
        up, down = f"top {k} raising the prediction", f"top {k} lowering the prediction"
    out: list[list[Any]] = []
    for i in range(shown):
        contrib = explained.contributions[i]
        values = sample.iloc[i]
        pushed_up = [j for j in np.argsort(-contrib) if contrib[j] > 0][:k]
        pushed_down = [j for j in np.argsort(contrib) if contrib[j] < 0][:k]
        row: list[Any] = [ids[i], _fmt(decisions[i])]
        if proba is not None:
            row.append(float(proba[i, _positive_index(system, settings)]))
        row += [
            float(explained.output[i]),
            _reasons(pushed_up, features, values, contrib),
            _reasons(pushed_down, features, values, contrib),
        ]
        out.append(row)
    columns = ["decision", "model decided"]
    if proba is not None:
        columns.append(f"P(class {_class_label(positive)})")
    columns += ["explained output", up, down]
    return Table(
        title="Reasons for individual decisions",
        columns=columns,
        rows=out,
        note=f"Explained output: {explained.label}; contributions are in its units "
        "(feature = its value, then how much it moved the output). " + _id_note(system, which),
    )


def _reasons(picked: list[Any], features: list[str], values: pd.Series, contrib: Any) -> str:
    if not picked:
        return "none"
    parts = []
    for j in picked:
        name = features[j]
        value = _fmt(values[name]) if name in values.index else "(several inputs)"
        parts.append(f"{name} = {value} ({contrib[j]:+.3g})")
    return "; ".join(parts)


def _decision_ids(system: System, which: str, positions: np.ndarray) -> list[str]:
    """The id of each decision: its ``data.id`` value, else its row of the file (from 1)."""
    frame = system.current if which == "current" else system.reference
    assert frame is not None
    if system.id_column is not None:
        return [_fmt(v) for v in frame[system.id_column].iloc[positions]]
    return [f"row {int(p) + 1:,}" for p in positions]


def _id_note(system: System, which: str) -> str:
    if system.id_column is not None:
        return f"Decisions are identified by the column {system.id_column!r} (data.id)."
    artifact = system.data_artifacts.get(which)
    where = Path(artifact.location).name if artifact is not None else f"the {which} data"
    return (
        f"Decisions are rows of {where}, counted from 1 (the first data row after any header); "
        "name an id column with data.id to show ids instead."
    )


def _fmt(value: Any) -> str:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return "missing"
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)
