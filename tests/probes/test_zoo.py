"""The built-in probes on the zoo of deliberately broken models: the exact outcome of each.

A model that fails on its own data is the system failing: FAIL with the count and the cause,
never ERROR, and everything else the probe measured is kept.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready import ProbeContext, Status, System, Table
from prodready.probes import ExplainabilityProbe, MonitoringProbe, score_model
from tests.zoo import (
    MutatesInput,
    NaNProbabilities,
    NonDeterministic,
    RaisesOnNaN,
    Raising,
    with_nan,
)

CTX = ProbeContext(seed=0)
SETTINGS = {"monitoring": {"engine": "scipy"}, "explainability": {"sample": 200}}
#: For tests whose assertions do not depend on Q5's sample size (copies handed to the model,
#: probabilities refused): a wrapped model gets the model-agnostic explainer, whose cost grows
#: with the sample (22 s for 200 rows, 8 s for 40 here); 40 rows still fill the reasons table.
SMALL_SAMPLE = {**SETTINGS, "explainability": {"sample": 40}}


def system_with(
    model: Any,
    data: tuple[pd.DataFrame, pd.DataFrame],
    settings: dict[str, Any] = SETTINGS,
    **kwargs: Any,
) -> System:
    ref, cur = data
    return System(
        model=model, reference=ref, current=cur, target="target", settings=settings, **kwargs
    )


def checks(finding: Any) -> dict[str, Status]:
    return {c.name: c.status for c in finding.checks}


@pytest.fixture
def nan_current(binary_data: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[pd.DataFrame, ...]:
    ref, cur = binary_data
    return ref, with_nan(cur, "income", 0.2, seed=3)


# -- the shared scoring helper --------------------------------------------------------------


def test_score_model_finds_the_failing_rows_and_their_cause(
    binary_model: Pipeline, nan_current: tuple[pd.DataFrame, ...]
) -> None:
    _, cur = nan_current
    x = cur[["income", "debt_ratio", "age", "balance", "region"]]
    scoring = score_model(RaisesOnNaN(binary_model), x, "predict_proba")
    assert scoring.n_failed == 600 and scoring.exact
    assert scoring.scored.sum() == 2400 and scoring.outputs.shape == (2400, 2)
    assert scoring.describe("current") == (
        "the model raised on 600 of 3,000 current rows: missing value in income"
    )
    assert scoring.failures[0].error.startswith("ValueError: Input X contains NaN")
    expected = binary_model.predict_proba(x[scoring.scored])
    np.testing.assert_allclose(scoring.outputs, expected)


def test_score_model_bisects_rows_with_no_missing_value(binary_model: Pipeline) -> None:
    class RaisesOnOld(Raising):
        def _call(self, method: str, X: Any) -> Any:
            if (X["age"] > 70).any():
                raise ValueError("age out of range")
            return self.model.predict(X)

    from tests.conftest import make_frame

    x = make_frame(500, 5)[["income", "debt_ratio", "age", "balance", "region"]]
    scoring = score_model(RaisesOnOld(binary_model), x, "predict")
    assert scoring.n_failed == int((x["age"] > 70).sum()) > 0 and scoring.exact
    assert scoring.failures[0].cause is None
    assert scoring.describe("current").endswith("(what it raised is in the details)")
    assert "age out of range" in scoring.failures[0].error
    tight = score_model(RaisesOnOld(binary_model), x, "predict", max_calls=3)
    assert not tight.exact and tight.n_failed >= scoring.n_failed
    assert "up to" in tight.describe("current")


# -- Q3 ------------------------------------------------------------------------------------


def test_q3_model_raising_on_current_rows_fails_and_keeps_the_drift(
    binary_model: Pipeline, nan_current: tuple[pd.DataFrame, ...]
) -> None:
    f = MonitoringProbe().run(system_with(RaisesOnNaN(binary_model), nan_current), CTX)
    assert f.status is Status.FAIL
    assert checks(f)["model scores every row"] is Status.FAIL
    assert f.summary.startswith(
        "The model raised on 600 of 3,000 current rows: missing value in income; "
        "2 of 5 features drifted (income, region)"
    )
    assert f.measurements["unscorable_rows"] == {"reference": 0, "current": 600}
    assert f.measurements["features_drifted"] == ["income", "region"]  # the drift is kept
    assert f.measurements["performance"]["labelled_rows"] == 2400  # on the rows it scored
    table = next(e for e in f.evidence if isinstance(e, Table) and "could not score" in e.title)
    assert table.rows[0][:2] == ["missing value in income", 600]
    assert "Traceback" not in f.summary and "ValueError" not in f.summary


def test_q3_nan_probabilities_fail_as_unusable_output(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    model = NaNProbabilities(binary_model, share=0.1)
    f = MonitoringProbe().run(system_with(model, binary_data), CTX)
    assert f.status is Status.FAIL and checks(f)["model scores every row"] is Status.FAIL
    n_ref = int(model.nan_rows(binary_data[0][list(model.feature_names_in_)]).sum())
    n_cur = int(model.nan_rows(binary_data[1][list(model.feature_names_in_)]).sum())
    assert f.measurements["unscorable_rows"] == {"reference": n_ref, "current": n_cur}
    assert f"gave no usable output for {n_cur:,} of 3,000 current rows" in f.summary
    assert "non-finite output (NaN or infinity)" in f.summary


def test_q3_model_that_always_raises_fails_with_drift_still_measured(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = MonitoringProbe().run(system_with(Raising(binary_model), binary_data), CTX)
    assert f.status is Status.FAIL
    assert checks(f) == {
        "model scores every row": Status.FAIL,
        "missing values": Status.PASS,
        "feature drift": Status.FAIL,
        "categorical cardinality": Status.PASS,
        "test power": Status.PASS,
        "prediction drift": Status.FAIL,
        "performance": Status.WARN,
        "performance by segment": Status.PASS,
        "reference out of sample": Status.PASS,
        "your monitor, rehearsed": Status.WARN,
    }
    assert f.measurements["features_drifted"] == ["income", "region"]
    assert f.summary.startswith("The model raised on 3,000 of 3,000 current rows")


def test_q3_and_q5_hand_a_mutating_model_copies(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    system = system_with(MutatesInput(binary_model), binary_data, SMALL_SAMPLE)
    before = [hashlib.sha256(pickle.dumps(f)).hexdigest() for f in binary_data]
    q3 = MonitoringProbe().run(system, CTX)
    q5 = ExplainabilityProbe().run(system, CTX)
    after = [hashlib.sha256(pickle.dumps(f)).hexdigest() for f in binary_data]
    assert before == after
    assert q3.measurements["unscorable_rows"] == {"reference": 0, "current": 0}
    assert q5.measurements["unscorable_rows"] == 0


# -- Q5 ------------------------------------------------------------------------------------


def test_q5_model_raising_on_sampled_rows_fails_and_explains_the_rest(
    binary_model: Pipeline, nan_current: tuple[pd.DataFrame, ...]
) -> None:
    f = ExplainabilityProbe().run(system_with(RaisesOnNaN(binary_model), nan_current), CTX)
    assert f.status is Status.FAIL
    assert checks(f)["model scores every row"] is Status.FAIL
    failed = f.measurements["unscorable_rows"]
    assert 0 < failed < 200 and f.measurements["decisions_explained"] == 200 - failed
    assert f.summary.startswith(
        f"The model raised on {failed} of 200 sampled current rows: missing value in income."
    )
    # The wrapper hides the Pipeline, so the model-agnostic explainer runs: still additive.
    assert checks(f)["local accuracy"] is Status.PASS


def test_q5_nothing_scorable_fails_without_crashing(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = ExplainabilityProbe().run(system_with(NaNProbabilities(binary_model), binary_data), CTX)
    assert f.status is Status.FAIL
    assert f.measurements["decisions_explained"] == 0
    assert f.summary == (
        "The model gave no usable output for 200 of 200 sampled current rows: non-finite "
        "output (NaN or infinity): nothing could be explained; decisions are not traceable: "
        "no decision id and no decision log."
    )


def test_q5_non_deterministic_model_is_not_repeatable(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    model = NonDeterministic(binary_model, scale=0.05, seed=1)
    system = System(
        model=model,
        reference=binary_data[0],
        current=binary_data[1],
        target="target",
        settings={"explainability": {"sample": 40}},
    )
    f = ExplainabilityProbe().run(system, CTX)
    assert checks(f)["stability"] is Status.FAIL and f.status is Status.FAIL
    assert "NOT repeatable" in f.summary


# -- Q5 in words: binary, multi-class, regression, missing values, ids -------------------------


def reasons_of(finding: Any) -> Table:
    return next(e for e in finding.evidence if isinstance(e, Table) and "Reasons" in e.title)


def test_q5_binary_missing_values_and_ids_read_as_a_person_reads_them(
    binary_model: Pipeline, nan_current: tuple[pd.DataFrame, ...]
) -> None:
    ref, cur = nan_current
    ref = ref.assign(application=[f"A-{i:05d}" for i in range(len(ref))])
    cur = cur.assign(application=[f"C-{i:05d}" for i in range(len(cur))])
    # HistGradientBoosting handles missing values itself: every decision is made.
    f = ExplainabilityProbe().run(
        system_with(binary_model, (ref, cur), id_column="application"), CTX
    )
    table = reasons_of(f)
    assert all(str(row[0]).startswith("C-") for row in table.rows)
    assert "identified by the column 'application'" in table.note
    text = " ".join(str(cell) for row in table.rows for cell in row)
    assert "nan" not in text.lower()
    missing = cur["income"].isna().to_numpy()
    shown = [int(row[0].removeprefix("C-")) for row in table.rows]
    if any(missing[i] for i in shown):  # a shown decision had no income: said in words
        assert "income = missing" in text


def test_q5_multiclass_names_the_decision_and_explains_it(
    multiclass_model: Pipeline, multiclass_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = ExplainabilityProbe().run(system_with(multiclass_model, multiclass_data), CTX)
    table = reasons_of(f)
    assert table.columns[:2] == ["decision", "model decided"]
    assert table.columns[-2:] == ["top 3 pushing towards the decision", "top 3 pushing against it"]
    cur = multiclass_data[1]
    predicted = multiclass_model.predict(cur[list(multiclass_model.feature_names_in_)])
    rows = [int(r[0].removeprefix("row ").replace(",", "")) - 1 for r in table.rows]
    assert [r[1] for r in table.rows] == [str(predicted[i]) for i in rows]
    assert f.measurements["explained_output"].startswith("output of the class the model chose")
    assert f.measurements["explained_output"] in f.evidence[0].title


def test_q5_regression_reasons_raise_or_lower_the_prediction(
    regression_model: Any, regression_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    f = ExplainabilityProbe().run(system_with(regression_model, regression_data), CTX)
    table = reasons_of(f)
    assert table.columns[-2:] == ["top 3 raising the prediction", "top 3 lowering the prediction"]
    assert f.measurements["explained_output"] == "prediction"
    assert "explanations are exact" in f.summary


class _OutOfRange(Raising):
    """predict_proba answers numbers in [-1, 2]: not probabilities at all."""

    def _call(self, method: str, X: Any) -> Any:
        proba = self.model.predict_proba(X)
        return proba * 3 - 1 if method == "predict_proba" else self.model.predict(X)


def test_q3_and_q5_refuse_probabilities_outside_0_1(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    system = system_with(_OutOfRange(binary_model), binary_data, SMALL_SAMPLE)
    q3 = MonitoringProbe().run(system, CTX)
    assert q3.status is Status.FAIL and checks(q3)["model scores every row"] is Status.FAIL
    assert "probabilities outside [0, 1] or not summing to 1" in q3.summary
    proba = binary_model.predict_proba(binary_data[1][list(binary_model.feature_names_in_)])
    outside = int(((proba * 3 - 1 < 0) | (proba * 3 - 1 > 1)).any(axis=1).sum())
    assert f"gave no usable output for {outside:,} of 3,000 current rows" in q3.summary
    q5 = ExplainabilityProbe().run(system, CTX)
    assert q5.status is Status.FAIL and checks(q5)["model scores every row"] is Status.FAIL
    reasons = next(e for e in q5.evidence if isinstance(e, Table) and "Reasons" in e.title)
    assert all(0 <= row[2] <= 1 for row in reasons.rows)  # P(1) shown only when it is one
