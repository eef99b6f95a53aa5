"""Q5 explainability probe, on supported models and a deliberately broken one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from prodready import Finding, ProbeContext, Status, System, Table
from prodready.probes import ExplainabilityProbe
from tests.conftest import NUMERIC

CTX = ProbeContext(deadline=float("inf"), seed=0)


class NoisyClassifier:
    """Broken on purpose: the same input gets a different probability on every call."""

    _estimator_type = "classifier"

    def __init__(self) -> None:
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(NUMERIC)
        self._rng = np.random.default_rng()

    def predict_proba(self, x: Any) -> np.ndarray:
        base = 1 / (1 + np.exp(-np.asarray(x, dtype=float)[:, 1] * 3 + 1))
        p = np.clip(base + self._rng.normal(0, 0.05, len(base)), 0, 1)
        return np.column_stack([1 - p, p])

    def predict(self, x: Any) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] > 0.5).astype(int)


#: The checks of the traceable half (tests/probes/test_trace.py tests them); a bare model
#: in-process fails the first two.
TRACE_CHECKS = {"decision ids", "decision log"}


def checks(finding: Any) -> dict[str, Status]:
    """The explainable half's checks, by name."""
    return {c.name: c.status for c in finding.checks if c.name not in TRACE_CHECKS}


def explained_status(finding: Any) -> Status:
    """The status the explainable half alone would give."""
    return Finding.worst([c for c in finding.checks if c.name not in TRACE_CHECKS])


def test_pipeline_explained_in_input_features(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    f = ExplainabilityProbe().run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"explainability": {"sample": 300}},
        ),
        CTX,
    )
    assert checks(f) == {
        "model scores every row": Status.PASS,
        "local accuracy": Status.PASS,
        "stability": Status.PASS,
        "top drivers present": Status.PASS,
    }
    assert f.measurements["explainer"] == "tree"
    assert f.measurements["decisions_explained"] == 300
    assert f.measurements["additivity_error"] < 1e-9
    # One importance per input column: the one-hot columns of "region" are summed back.
    assert set(f.measurements["importance"]) == {"income", "debt_ratio", "age", "balance", "region"}
    reasons = next(e for e in f.evidence if isinstance(e, Table))
    assert len(reasons.rows) == 10
    assert reasons.columns == [
        "decision",
        "model decided",
        "P(class 1)",
        "explained output",
        "top 3 pushing towards class 1",
        "top 3 pushing towards class 0",
    ]
    # One explained output, named the same in the chart, the checks and the reasons.
    label = f.measurements["explained_output"]
    assert label == "log-odds of class 1"
    assert label in f.evidence[0].title and label in reasons.note
    assert label in f.checks[1].message
    assert reasons.rows[0][0] == "row 8"  # counted from 1, as a person counts rows
    assert 0 <= float(reasons.rows[0][2]) <= 1
    for row in reasons.rows:  # sign-aware: each side lists only contributions of its sign
        assert "(-" not in row[4] and "(+" not in row[5]
    assert "explanations are exact" in f.summary and "repeatable" in f.summary
    assert f.summary.endswith("decisions are not traceable: no decision id and no decision log.")
    assert f.status is Status.FAIL  # a bare model keeps no decision log


def test_noisy_model_fails_local_accuracy_and_stability(
    binary_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = binary_data
    system = System(
        model=NoisyClassifier(),
        reference=ref[[*NUMERIC, "target"]],
        current=cur[[*NUMERIC, "target"]],
        target="target",
        settings={"explainability": {"sample": 40}},
    )
    f = ExplainabilityProbe().run(system, CTX)
    assert f.measurements["explainer"] == "permutation"
    assert checks(f) == {
        "model scores every row": Status.PASS,
        "local accuracy": Status.FAIL,
        "stability": Status.FAIL,
        "top drivers present": Status.PASS,
    }
    assert f.status is Status.FAIL
    assert "cannot justify a decision" in f.remediation


def test_multiclass_linear_and_bare_regressor(
    multiclass_model: Pipeline,
    multiclass_data: tuple[pd.DataFrame, pd.DataFrame],
    regression_model: Any,
    regression_data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = multiclass_data
    f = ExplainabilityProbe().run(
        System(
            model=multiclass_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"explainability": {"sample": 200}},
        ),
        CTX,
    )
    assert f.measurements["explainer"] == "linear"
    assert len(f.measurements["output"]) == 3
    assert checks(f)["local accuracy"] is Status.PASS
    ref, cur = regression_data
    f = ExplainabilityProbe().run(
        System(
            model=regression_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"explainability": {"sample": 200}},
        ),
        CTX,
    )
    assert f.measurements["explainer"] == "tree"
    assert checks(f) == {
        "model scores every row": Status.PASS,
        "local accuracy": Status.PASS,
        "stability": Status.PASS,
        "top drivers present": Status.PASS,
    }


def test_a_top_driver_missing_everywhere_warns(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, cur = binary_data
    # HistGradientBoosting takes missing values: every decision is made without debt_ratio.
    cur = cur.assign(debt_ratio=float("nan"))
    f = ExplainabilityProbe().run(
        System(
            model=binary_model,
            reference=ref,
            current=cur,
            target="target",
            settings={"explainability": {"sample": 100}},
        ),
        CTX,
    )
    assert "debt_ratio" in list(f.measurements["importance"])[:3]
    check = next(c for c in f.checks if c.name == "top drivers present")
    assert check.status is Status.WARN and explained_status(f) is Status.WARN
    assert check.message == (
        "debt_ratio, a top driver, is missing in 100% of the 100 explained decisions: the "
        "explanations credit the absence of a value."
    )
