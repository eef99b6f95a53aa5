"""Every kind of model the issue names gets a real answer, never an ERROR.

Binary and multi-class classifiers, a regressor, a bare estimator and a Pipeline: the two
built questions (Q3, Q5) are judged, the others are not assessed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline

from prodready import Status, System, assess
from tests.conftest import NUMERIC, make_frame

JUDGED = {Status.PASS, Status.WARN, Status.FAIL}


@pytest.fixture(scope="module")
def bare_forest() -> tuple[RandomForestClassifier, pd.DataFrame, pd.DataFrame]:
    train, ref, cur = (make_frame(1500, s, classes=3)[[*NUMERIC, "target"]] for s in (21, 22, 23))
    model = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0)
    return model.fit(train[NUMERIC], train["target"]), ref, cur


def cases(request: pytest.FixtureRequest) -> dict[str, tuple[Any, pd.DataFrame, pd.DataFrame]]:
    return {
        "binary pipeline": (
            request.getfixturevalue("binary_model"),
            *request.getfixturevalue("binary_data"),
        ),
        "multiclass pipeline": (
            request.getfixturevalue("multiclass_model"),
            *request.getfixturevalue("multiclass_data"),
        ),
        "bare regressor": (
            request.getfixturevalue("regression_model"),
            *request.getfixturevalue("regression_data"),
        ),
        "bare multiclass forest": request.getfixturevalue("bare_forest"),
    }


@pytest.mark.parametrize(
    ("case", "task", "explainer"),
    [
        ("binary pipeline", "binary", "tree"),
        ("multiclass pipeline", "multiclass", "linear"),
        ("bare regressor", "regression", "tree"),
        ("bare multiclass forest", "multiclass", "tree"),
    ],
)
def test_each_model_kind_is_judged(
    request: pytest.FixtureRequest, case: str, task: str, explainer: str
) -> None:
    model, ref, cur = cases(request)[case]
    system = System(
        model=model,
        reference=ref,
        current=cur,
        target="target",
        settings={"explainability": {"sample": 150}, "monitoring": {"engine": "scipy"}},
    )
    assert system.task == task
    result = assess(system)
    assert result.finding("Q3").status in JUDGED, result.finding("Q3").error
    assert result.finding("Q5").status in JUDGED, result.finding("Q5").error
    assert result.finding("Q5").measurements["explainer"] == explainer
    # A bare model in-process: no input checks (Q2) and no decision log (Q5's trace).
    assert result.finding("Q2").status is Status.FAIL
    assert result.finding("Q5").status is Status.FAIL
    # Without what they need (a current load, an artifact file, a registry, hooks), these
    # are honestly not assessed; the empty model card FAILs Q6; the export (Q10) is judged.
    for question in ("Q1", "Q4", "Q7", "Q8", "Q9"):
        assert result.finding(question).status is Status.NOT_ASSESSED, question
    assert result.finding("Q6").status is Status.FAIL
    assert "metadata.owner" in result.finding("Q6").summary
    assert result.finding("Q10").status in JUDGED, result.finding("Q10").summary


def test_without_current_data_monitoring_is_not_assessed(
    binary_model: Pipeline, binary_data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, _ = binary_data
    result = assess(
        System(
            model=binary_model,
            reference=ref,
            target="target",
            settings={"explainability": {"sample": 100}},
        )
    )
    q3 = result.finding("Q3")
    # Missing evidence counts 0 like any unanswered question: omitting data raises no score.
    assert q3.status is Status.NOT_ASSESSED and "data.current" in q3.remediation
    assert result.finding("Q5").measurements["explained_data"] == "reference"
    assert result.scores["technical"] == 0.0
