"""Q5 — Is every AI decision traceable and explainable?

This probe does the *explainable* half: it explains a sample of decisions with SHAP (the
exact tree or linear explainer where the model allows, a model-agnostic one otherwise) and
checks that the explanations can be trusted:

- local accuracy: base value + sum of contributions equals the model's output, per decision;
- stability: explaining the same decisions again gives the same contributions;
- global importance: which input features drive decisions overall;
- top reasons per decision, stated in the applicant's own input features (for a Pipeline,
  encoded columns are summed back to the column they came from), as an adverse-action notice
  needs.

The *traceable* half (a decision log with decision id, model version and input digest) is not
built yet; the finding says so and therefore never PASSes on its own.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from prodready.explain import Explanation, explain
from prodready.probes._base import Probe, ProbeContext
from prodready.results import Chart, Check, Evidence, Finding, Status, Table
from prodready.system import System

__all__ = ["ExplainabilityProbe"]

_TRACEABILITY = (
    "traceability: a decision log giving every decision an id, the model "
    "version and a digest of its input"
)
_STABILITY_ROWS = 50
_SHOWN_DECISIONS = 10
_BACKGROUND_ROWS = 100


class ExplainabilityProbe(Probe):
    """SHAP explanations of sampled decisions, checked for local accuracy and stability."""

    question = "Q5"

    def run(self, system: System, context: ProbeContext) -> Finding:
        policy = system.policy
        # Explain recent decisions when there are any: those are the ones to account for.
        which: Literal["reference", "current"] = (
            "current" if system.current is not None else "reference"
        )
        data = system.X(which)
        rng = np.random.default_rng(context.seed)
        n = min(policy.explain_sample, len(data))
        rows = np.sort(rng.choice(len(data), size=n, replace=False))
        sample = data.iloc[rows]
        ref = system.X("reference")
        background = ref.iloc[
            np.sort(rng.choice(len(ref), size=min(_BACKGROUND_ROWS, len(ref)), replace=False))
        ]

        first = explain(system.model, sample, background=background, seed=context.seed)
        context.check_deadline()
        k = min(_STABILITY_ROWS, n)
        again = explain(system.model, sample.iloc[:k], background=background, seed=context.seed)
        instability = float(np.max(np.abs(again.values - first.values[:k]))) if k else 0.0

        tol = policy.additivity_tolerance
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
                message=f"Largest |base value + sum of contributions - model output| over "
                f"{n} decisions: {additivity:.3g} of the output scale {scale:.4g} "
                f"({first.output_names[0]}).",
            ),
            Check(
                name="stability",
                status=Status.PASS if instability <= tol else Status.FAIL,
                measured=instability,
                threshold=f"<= {tol:g}",
                message=f"Explaining {k} decisions twice changed a contribution by at most "
                f"{instability:.3g} of the output scale.",
            ),
        ]
        status = Finding.worst(checks)
        importance = first.importance()
        top = list(importance)[:3]
        ids = [str(i) for i in data.index[rows]]
        evidence: list[Evidence] = [
            Chart(
                title="Global importance: mean |contribution| per input feature",
                chart="barh",
                x=list(importance),
                series={"importance": list(importance.values())},
                xlabel=f"mean |SHAP value| ({first.output_names[0]}"
                + (" and the other outputs)" if len(first.output_names) > 1 else ")"),
                ylabel="input feature",
            ),
            _reasons_table(system, first, sample, ids, policy.top_reasons),
        ]
        return Finding(
            question=self.question,
            status=status,
            summary=(
                f"{n} {which} decisions explained with the {first.explainer} explainer; "
                f"local accuracy {additivity:.1g}, stability {instability:.1g}; "
                f"top drivers: {', '.join(top)}."
            ),
            checks=checks,
            measurements={
                "explainer": first.explainer,
                "decisions_explained": n,
                "explained_data": which,
                "output": first.output_names,
                "additivity_error": additivity,
                "output_scale": scale,
                "instability": instability,
                "importance": importance,
            },
            thresholds={
                "additivity_tolerance": tol,
                "explain_sample": policy.explain_sample,
                "top_reasons": policy.top_reasons,
            },
            evidence=evidence,
            remediation=""
            if status is Status.PASS
            else (
                "Explanations that do not add up to the model's output, or change between two "
                "runs, cannot justify a decision: check the model type is supported by an exact "
                "explainer, and that prediction is deterministic."
            ),
            not_assessed=[_TRACEABILITY],
        )


def _reasons_table(
    system: System, exp: Explanation, sample: pd.DataFrame, ids: list[str], k: int
) -> Table:
    """The top-k reasons of the first decisions: which input pushed the output, and how much."""
    shown = min(_SHOWN_DECISIONS, len(sample))
    out = _reason_output(system, exp)
    # A probability reads better than log-odds in an adverse-action notice.
    proba = (
        np.asarray(system.model.predict_proba(sample.iloc[:shown]))[:, 1]
        if system.task == "binary"
        else None
    )
    rows: list[list[Any]] = []
    for i in range(shown):
        contrib = exp.values[i, :, out[i]]
        # Reasons are what pushed the output up: towards the adverse class for a classifier.
        order = np.argsort(-contrib) if system.is_classifier else np.argsort(-np.abs(contrib))
        reasons = []
        for j in order[:k]:
            name = exp.feature_names[j]
            value = sample.iloc[i][name] if name in sample.columns else "(combined)"
            reasons.append(f"{name} = {_fmt(value)} ({contrib[j]:+.3f})")
        row = [ids[i], _fmt(exp.model_output[i, out[i]]), "; ".join(reasons)]
        rows.append(row if proba is None else [row[0], _fmt(proba[i]), *row[1:]])
    output = exp.output_names[out[0]] if len(set(out)) == 1 else "output of the predicted class"
    columns = ["decision (row)", "model output", f"top {k} reasons (contribution)"]
    if proba is not None:
        positive = system.model.classes_[1]
        columns.insert(1, f"P({positive})")
    return Table(
        title="Top reasons for individual decisions",
        columns=columns,
        rows=rows,
        note=f"Model output and contributions in units of: {output}. Reasons are the "
        "input features that pushed the output up the most"
        + (" (towards the positive class)." if system.task == "binary" else "."),
    )


def _reason_output(system: System, exp: Explanation) -> list[int]:
    """Which output to explain each shown decision by: the predicted class for multi-class."""
    n_out = exp.values.shape[2]
    if n_out == 1:
        return [0] * exp.values.shape[0]
    if system.task == "binary":  # probability outputs for both classes: use the positive one
        return [n_out - 1] * exp.values.shape[0]
    # Multi-class: the class the model chose is the decision to justify.
    return [int(np.argmax(exp.model_output[i])) for i in range(exp.values.shape[0])]


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)
