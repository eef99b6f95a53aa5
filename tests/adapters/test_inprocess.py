"""The in-process client: model calls, a guard's decisions, and every failure as a Reply."""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready.adapters import InProcessClient
from tests.conftest import CATEGORICAL, NUMERIC, make_frame

FEATURES = NUMERIC + CATEGORICAL


def rows(n: int = 4) -> pd.DataFrame:
    return make_frame(n, 7)[FEATURES]


def test_classifier_gives_probabilities(binary_model: Pipeline) -> None:
    client = InProcessClient(binary_model, FEATURES, is_classifier=True)
    frame = rows()
    reply = client.predict(frame)
    assert reply.kind == "answered" and reply.status is None
    np.testing.assert_array_equal(reply.outputs, binary_model.predict_proba(frame))
    assert reply.decision_ids is None and reply.safe_default is None
    assert reply.seconds > 0
    assert client.ping() and client.protocol == "in-process"
    assert client.describe() == "the model in-process (Pipeline.predict_proba)"


def test_regressor_gives_predictions(regression_model: Any) -> None:
    client = InProcessClient(regression_model, NUMERIC, is_classifier=False)
    frame = rows()
    reply = client.predict(frame)
    np.testing.assert_array_equal(reply.outputs, regression_model.predict(frame[NUMERIC]))


def test_columns_are_selected_in_order_and_the_callers_frame_is_untouched() -> None:
    seen: list[pd.DataFrame] = []

    class Recorder:
        def predict(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
            seen.append(X)
            X["age"] = -1.0  # a model that mutates its input must not reach the caller's frame
            return np.zeros(len(X))

    frame = rows().assign(extra="x")[["region", "extra", "age", "income", "debt_ratio", "balance"]]
    before = frame.copy()
    reply = InProcessClient(Recorder(), FEATURES, is_classifier=False).predict(frame)
    assert reply.kind == "answered"
    assert list(seen[0].columns) == FEATURES
    pd.testing.assert_frame_equal(frame, before)


def test_a_missing_column_reaches_the_model(binary_model: Pipeline) -> None:
    reply = InProcessClient(binary_model, FEATURES).predict(rows().drop(columns="region"))
    assert reply.kind == "crashed"
    assert reply.error.startswith("ValueError: ") and "region" in reply.error


def test_an_exception_is_a_crash_with_type_and_message() -> None:
    class Fragile:
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
            raise ZeroDivisionError("x" * 1000)

    reply = InProcessClient(Fragile(), FEATURES).predict(rows())
    assert reply.kind == "crashed" and reply.status is None
    assert reply.error.startswith("ZeroDivisionError: xxx") and len(reply.error) == 500


def test_wrong_number_of_outputs_is_malformed() -> None:
    class Short:
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
            return np.zeros((len(X) - 1, 2))

    class Scalar:
        def predict(self, X: pd.DataFrame) -> float:
            return 0.5

    assert InProcessClient(Short(), FEATURES).predict(rows()).error == "3 outputs for 4 rows"
    reply = InProcessClient(Scalar(), FEATURES, is_classifier=False).predict(rows())
    assert reply.kind == "malformed" and reply.error == "a scalar for 4 rows"


def test_a_classifier_without_predict_proba_is_asked_for_predict() -> None:
    class Labels:
        def predict(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
            return np.array(["yes"] * len(X))

    reply = InProcessClient(Labels(), FEATURES, is_classifier=True).predict(rows(2))
    assert reply.kind == "answered" and list(reply.outputs) == ["yes", "yes"]  # type: ignore[arg-type]


# -- a guard: decide(), decision ids, safe defaults, InputRejected ------------------------------


def _input_rejected(module: str) -> type[Exception]:
    """An exception class named InputRejected defined in ``module`` (the guard is separate)."""
    return types.new_class(
        "InputRejected", (Exception,), {}, lambda ns: ns.update(__module__=module)
    )


@dataclass
class Decisions:
    outputs: Any
    predictions: Any
    decision_ids: list[str]
    safe_default: Any


class FakeGuard:
    def __init__(self, raises: BaseException | None = None) -> None:
        self.raises = raises
        self.seen: list[pd.DataFrame] = []

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        raise AssertionError("a guard is called through decide()")

    def decide(self, X: pd.DataFrame) -> Decisions:
        self.seen.append(X)
        if self.raises is not None:
            raise self.raises
        n = len(X)
        proba = np.tile([0.4, 0.6], (n, 1))
        mask = np.zeros(n, dtype=bool)
        mask[0] = True
        return Decisions(proba, np.ones(n), [f"id-{i}" for i in range(n)], mask)


def test_a_guard_gives_ids_and_safe_defaults() -> None:
    guard = FakeGuard()
    client = InProcessClient(guard, FEATURES)
    reply = client.predict(rows(3).assign(extra=1))
    assert reply.kind == "answered"
    np.testing.assert_array_equal(reply.outputs, np.tile([0.4, 0.6], (3, 1)))
    assert reply.decision_ids == ("id-0", "id-1", "id-2")
    np.testing.assert_array_equal(reply.safe_default, [True, False, False])
    assert list(guard.seen[0].columns) == FEATURES
    assert client.describe() == "the guarded model in-process (FakeGuard.decide)"


def test_a_guard_without_outputs_gives_its_predictions() -> None:
    class RegressionGuard(FakeGuard):
        def decide(self, X: pd.DataFrame) -> Decisions:
            return Decisions(None, np.arange(len(X), dtype=float), ["a"] * len(X), None)

    reply = InProcessClient(RegressionGuard(), FEATURES, is_classifier=False).predict(rows(2))
    np.testing.assert_array_equal(reply.outputs, [0.0, 1.0])
    assert reply.safe_default is None and reply.decision_ids == ("a", "a")


@pytest.mark.parametrize("module", ["prodready.guard", "prodready.guard._schema"])
def test_the_guards_input_rejected_is_a_rejection(module: str) -> None:
    rejected = _input_rejected(module)("row 0, column income: missing_value")
    reply = InProcessClient(FakeGuard(raises=rejected), FEATURES).predict(rows())
    assert reply.kind == "rejected"
    assert reply.error == "InputRejected: row 0, column income: missing_value"


def test_a_subclass_of_input_rejected_is_a_rejection() -> None:
    base = _input_rejected("prodready.guard")
    sub = types.new_class("MissingColumn", (base,), {})
    reply = InProcessClient(FakeGuard(raises=sub("no income")), FEATURES).predict(rows())
    assert reply.kind == "rejected"


@pytest.mark.parametrize("module", ["somebody.else", "prodready.guardian"])
def test_an_input_rejected_from_elsewhere_is_a_crash(module: str) -> None:
    reply = InProcessClient(FakeGuard(raises=_input_rejected(module)("x")), FEATURES).predict(
        rows()
    )
    assert reply.kind == "crashed"


def test_ids_that_do_not_match_the_rows_are_malformed() -> None:
    class Forgetful(FakeGuard):
        def decide(self, X: pd.DataFrame) -> Decisions:
            return Decisions(np.zeros((len(X), 2)), None, ["only-one"], None)

    reply = InProcessClient(Forgetful(), FEATURES).predict(rows(2))
    assert reply.kind == "malformed" and "decision ids" in reply.error


def test_the_real_guard_if_it_is_there(binary_model: Pipeline) -> None:
    guard_module = pytest.importorskip("prodready.guard")
    if not hasattr(guard_module, "Guard") or not hasattr(guard_module, "InputSchema"):
        pytest.skip("prodready.guard is not complete yet")
    reference = make_frame(500, 21)
    schema = guard_module.InputSchema.learn(reference, FEATURES, CATEGORICAL)
    guard = guard_module.Guard(binary_model, schema)
    client = InProcessClient(guard, FEATURES)
    good = rows(3)
    reply = client.predict(good)
    assert reply.kind == "answered"
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(good))
    assert reply.decision_ids is not None and len(reply.decision_ids) == 3
    bad = good.copy()
    bad.loc[bad.index[0], "region"] = "atlantis"
    assert client.predict(bad).kind == "rejected"
