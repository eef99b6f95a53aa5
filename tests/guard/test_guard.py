"""The guard in-process: rejects or answers a safe default, gives every decision an id and one
hash-chained log line whose digests and outputs match what was answered."""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.pipeline import Pipeline

from prodready import _chain
from prodready._exceptions import MissingDependencyError, UsageError
from prodready.example.data import CATEGORICAL, FEATURES, NUMERIC, generate_applicants
from prodready.example.train import train_model
from prodready.guard import (
    LOG_FORMAT,
    LOG_ID_FIELD,
    Guard,
    InputRejected,
    InputSchema,
    input_digest,
    input_digests,
    read_decisions,
    save_mlflow,
)

SHA = "ab" * 32


@pytest.fixture(scope="module")
def model() -> Pipeline:
    return train_model(generate_applicants(3000, seed=0, window="training"))


@pytest.fixture(scope="module")
def schema() -> InputSchema:
    return InputSchema.learn(
        generate_applicants(5000, seed=0, window="reference"), FEATURES, CATEGORICAL
    )


@pytest.fixture(scope="module")
def current() -> pd.DataFrame:
    return generate_applicants(200, seed=0, window="current")[FEATURES]


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def broken(current: pd.DataFrame) -> pd.DataFrame:
    """Six rows; rows 1, 3 and 4 are invalid."""
    frame = current.head(6).astype({"annual_income": object}).reset_index(drop=True)
    frame.loc[1, "annual_income"] = 1e12
    frame.loc[3, "purpose"] = "yacht"
    frame.loc[4, "debt_to_income"] = math.nan
    frame.loc[4, "annual_income"] = "lots"
    return frame


def test_valid_rows_get_the_models_answer_an_id_and_a_log_line(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    guard = Guard(model, schema, decision_log=log, model_version="1.2", model_sha256=SHA)
    frame = current.head(20)
    before = datetime.now(UTC)
    decisions = guard.decide(frame)
    expected = model.predict_proba(frame)
    np.testing.assert_array_equal(decisions.outputs, expected)
    np.testing.assert_array_equal(decisions.predictions, model.predict(frame))
    assert not decisions.safe_default.any() and decisions.violations == []
    assert len(decisions) == 20 and len(set(decisions.decision_ids)) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in decisions.decision_ids)

    lines = log_lines(log)
    assert [line[LOG_ID_FIELD] for line in lines] == list(decisions.decision_ids)
    digests = input_digests(frame, FEATURES)
    for row, line in enumerate(lines):
        assert line["format"] == LOG_FORMAT
        assert line["model_version"] == "1.2" and line["model_sha256"] == SHA
        assert line["input_sha256"] == digests[row]
        assert line["input_sha256"] == input_digest(frame.iloc[row].to_dict())
        assert line["input_sha256"] == input_digest(line["input"])  # the logged input
        assert line["output"] == expected[row].tolist()
        assert line["prediction"] == int(decisions.predictions[row])
        assert line["intervened"] is False and "violations" not in line
        when = datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before - timedelta(seconds=1) <= when <= datetime.now(UTC)
    assert _chain.verify(log).ok
    assert set(read_decisions(log)) == set(decisions.decision_ids)


def test_reject_refuses_the_whole_request_naming_row_column_and_rule(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    guard = Guard(model, schema, decision_log=log)
    with pytest.raises(InputRejected) as caught:
        guard.decide(broken(current))
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.n_rows == 6
    assert [(v.row, v.column, v.rule) for v in error.violations] == [
        (1, "annual_income", "out_of_range"),
        (3, "purpose", "unseen_category"),
        (4, "annual_income", "wrong_type"),
        (4, "debt_to_income", "missing_value"),
    ]
    assert str(error).startswith(
        "input rejected: 4 violation(s) in 3 of 6 row(s): row 1, column 'annual_income': "
        "out_of_range: 1000000000000.0 is above the accepted maximum"
    )
    assert "row 4, column 'debt_to_income': missing_value" in str(error)
    assert not log.exists()  # a refused request is not a decision


def test_a_rejection_message_shows_the_first_five_and_counts_the_rest(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame
) -> None:
    frame = current.head(8).copy()
    frame["loan_amount"] = -5.0
    with pytest.raises(InputRejected) as caught:
        Guard(model, schema).decide(frame)
    text = str(caught.value)
    assert text.count("column 'loan_amount': out_of_range") == 5
    assert text.endswith("; and 3 more")


def test_safe_default_answers_invalid_rows_and_logs_the_intervention(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    guard = Guard(model, schema, on_invalid="safe_default", safe_default=1, decision_log=log)
    frame = broken(current)
    decisions = guard.decide(frame)
    assert decisions.safe_default.tolist() == [False, True, False, True, True, False]
    valid = [0, 2, 5]
    np.testing.assert_array_equal(
        decisions.outputs[valid], model.predict_proba(current.head(6).iloc[valid])
    )
    np.testing.assert_array_equal(decisions.outputs[[1, 3, 4]], [[0.0, 1.0]] * 3)
    assert decisions.predictions[[1, 3, 4]].tolist() == [1, 1, 1]
    assert decisions.reasons == ("", "safe_default", "", "safe_default", "safe_default", "")
    lines = log_lines(log)
    assert [line["intervened"] for line in lines] == [
        False,
        "safe_default",
        False,
        "safe_default",
        "safe_default",
        False,
    ]
    assert [v["rule"] for v in lines[4]["violations"]] == ["wrong_type", "missing_value"]
    assert lines[4]["violations"][0] == {
        "row": 4,
        "column": "annual_income",
        "rule": "wrong_type",
        "value": "lots",
        "message": "'lots' is a str, expected a number",
    }
    assert lines[1]["output"] == [0.0, 1.0] and lines[1]["prediction"] == 1
    assert lines[4]["input"]["debt_to_income"] is None
    assert [line["input_sha256"] for line in lines] == input_digests(frame, FEATURES)
    assert _chain.verify(log).ok


def test_a_probability_row_as_the_safe_default(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame
) -> None:
    guard = Guard(model, schema, on_invalid="safe_default", safe_default=[0.3, 0.7])
    decisions = guard.decide(broken(current))
    np.testing.assert_array_equal(decisions.outputs[1], [0.3, 0.7])
    assert decisions.predictions[1] == 1


class Fragile:
    """A classifier that raises on NaN, as many models do."""

    classes_ = np.array([0, 1])

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[pd.DataFrame] = []

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        self.seen.append(frame)
        if self.fail or frame[NUMERIC].isna().to_numpy().any():
            raise ValueError("Input X contains NaN.")
        return np.tile([0.9, 0.1], (len(frame), 1))


def test_invalid_rows_never_reach_the_model(schema: InputSchema, current: pd.DataFrame) -> None:
    fragile = Fragile()
    guard = Guard(fragile, schema, on_invalid="safe_default", safe_default=0)
    decisions = guard.decide(broken(current))
    assert decisions.safe_default.tolist() == [False, True, False, True, True, False]
    assert len(fragile.seen) == 1 and list(fragile.seen[0].index) == [0, 2, 5]
    everything_bad = broken(current).iloc[[1, 3, 4]]
    assert guard.decide(everything_bad).safe_default.all()
    assert len(fragile.seen) == 1  # not called at all


def test_a_failing_model_gets_the_safe_default_or_raises(
    schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    guard = Guard(
        Fragile(fail=True), schema, on_invalid="safe_default", safe_default=0, decision_log=log
    )
    decisions = guard.decide(current.head(3))
    assert decisions.safe_default.all() and decisions.reasons == ("model_error",) * 3
    lines = log_lines(log)
    assert [line["intervened"] for line in lines] == ["model_error"] * 3
    assert lines[0]["error"] == "ValueError: Input X contains NaN."
    with pytest.raises(ValueError, match="contains NaN"):
        Guard(Fragile(fail=True), schema).decide(current.head(3))


def test_the_input_frame_is_never_changed(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    frame = broken(current)[list(reversed(FEATURES))].assign(extra=1)
    copy = frame.copy(deep=True)
    guard = Guard(
        model, schema, on_invalid="safe_default", safe_default=0, decision_log=tmp_path / "l"
    )
    guard.decide(frame)
    pd.testing.assert_frame_equal(frame, copy)
    valid = current.head(5)[list(reversed(FEATURES))]
    valid_copy = valid.copy(deep=True)
    decisions = Guard(model, schema).decide(valid)  # reordered: put in the model's order
    pd.testing.assert_frame_equal(valid, valid_copy)
    np.testing.assert_array_equal(decisions.outputs, model.predict_proba(current.head(5)))


def test_the_sklearn_face(model: Pipeline, schema: InputSchema, current: pd.DataFrame) -> None:
    guard = Guard(model, schema)
    frame = current.head(10)
    np.testing.assert_array_equal(guard.predict_proba(frame), model.predict_proba(frame))
    np.testing.assert_array_equal(guard.predict(frame), model.predict(frame))
    np.testing.assert_array_equal(guard.classes_, model.classes_)
    assert guard.feature_names_in_.tolist() == list(model.feature_names_in_)
    assert guard.n_features_in_ == len(FEATURES)
    assert guard._estimator_type == "classifier"
    array = guard.decide(frame[list(model.feature_names_in_)].to_numpy(dtype=object))
    np.testing.assert_array_equal(array.outputs, model.predict_proba(frame))
    with pytest.raises(TypeError, match="pandas DataFrame"):
        guard.decide([[1, 2]])  # type: ignore[arg-type]


def test_a_guarded_regressor(tmp_path: Path) -> None:
    data = generate_applicants(500, seed=0, window="reference")
    regressor = GradientBoostingRegressor(n_estimators=10).fit(data[NUMERIC], data["interest_rate"])
    schema = InputSchema.learn(data, NUMERIC)
    guard = Guard(
        regressor, schema, on_invalid="safe_default", safe_default=12.5, decision_log=tmp_path / "l"
    )
    frame = data[NUMERIC].head(4).reset_index(drop=True)
    frame.loc[2, "loan_amount"] = math.inf
    decisions = guard.decide(frame)
    assert decisions.outputs.shape == (4,)
    assert decisions.outputs[2] == 12.5 and decisions.safe_default.tolist() == [0, 0, 1, 0]
    np.testing.assert_array_equal(
        decisions.outputs[[0, 1, 3]], regressor.predict(frame.iloc[[0, 1, 3]])
    )
    assert not hasattr(guard, "predict_proba") and not hasattr(guard, "classes_")
    assert guard._estimator_type == "regressor"
    lines = log_lines(tmp_path / "l")
    assert lines[2]["output"] == 12.5 and lines[2]["prediction"] == 12.5
    assert lines[2]["input"]["loan_amount"] == "Infinity"


def test_an_empty_request_is_answered_with_nothing(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    guard = Guard(model, schema, decision_log=tmp_path / "l")
    decisions = guard.decide(current.head(0))
    assert len(decisions) == 0 and decisions.outputs.shape == (0, 2)
    assert not (tmp_path / "l").exists()


def test_logging_without_the_inputs(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    guard = Guard(model, schema, decision_log=tmp_path / "l", log_inputs=False, durable=True)
    guard.decide(current.head(2))
    lines = log_lines(tmp_path / "l")
    assert all("input" not in line and len(line["input_sha256"]) == 64 for line in lines)


def test_threads_deciding_at_once_keep_the_log_intact(
    model: Pipeline, schema: InputSchema, current: pd.DataFrame, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    guard = Guard(model, schema, decision_log=log)
    ids: list[str] = []

    def work(start: int) -> None:
        for i in range(start, start + 20):
            ids.extend(guard.decide(current.iloc[[i]]).decision_ids)

    threads = [threading.Thread(target=work, args=(k * 20,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = _chain.verify(log)
    assert check.ok and check.lines == 60
    assert set(read_decisions(log)) == set(ids)


def test_declarations_that_cannot_work_are_refused(model: Pipeline, schema: InputSchema) -> None:
    with pytest.raises(UsageError, match="on_invalid must be"):
        Guard(model, schema, on_invalid="ignore")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="needs a safe_default"):
        Guard(model, schema, on_invalid="safe_default")
    with pytest.raises(UsageError, match="not a class of the model"):
        Guard(model, schema, safe_default=7)
    with pytest.raises(UsageError, match="2 probabilities summing to 1"):
        Guard(model, schema, safe_default=[0.5, 0.6])
    with pytest.raises(UsageError, match="must be an InputSchema"):
        Guard(model, {"a": 1})  # type: ignore[arg-type]
    narrow = InputSchema.learn(generate_applicants(50, seed=0, window="reference"), NUMERIC)
    with pytest.raises(UsageError, match="disagree on the features"):
        Guard(model, narrow)
    regressor = GradientBoostingRegressor(n_estimators=2).fit([[0.0], [1.0]], [0.0, 1.0])
    one = InputSchema.learn(pd.DataFrame({"x": [0.0, 1.0]}))
    with pytest.raises(UsageError, match="must be a number"):
        Guard(regressor, one, safe_default="high")


def test_saving_for_mlflow_without_mlflow_names_the_extra(
    schema: InputSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("mlflow", "mlflow.pyfunc"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'prodready\[mlflow\]'"):
        save_mlflow(tmp_path / "m", model_path=tmp_path / "model.skops", schema=schema)


def test_the_documented_example_log_verifies(tmp_path: Path) -> None:
    doc = Path(__file__).parents[2] / "docs" / "decision-log.md"
    block = re.search(r"```json\n(.*?)```", doc.read_text(), re.DOTALL)
    assert block is not None
    log = tmp_path / "example.jsonl"
    log.write_text(block.group(1))
    assert _chain.verify(log).ok and _chain.verify(log).lines == 2
    for line in log_lines(log):
        assert line["format"] == LOG_FORMAT
        assert line["input_sha256"] == input_digest(line["input"])


def test_allowed_missing_numbers_are_logged_as_null(model: Pipeline, tmp_path: Path) -> None:
    reference = generate_applicants(500, seed=0, window="reference")
    reference.loc[::4, "annual_income"] = math.nan
    schema = InputSchema.learn(reference, FEATURES, CATEGORICAL)
    log = tmp_path / "decisions.jsonl"
    frame = generate_applicants(3, seed=1, window="current")[FEATURES]
    frame.loc[1, "annual_income"] = math.nan  # a float64 column: the matrix path
    decisions = Guard(model, schema, decision_log=log).decide(frame)
    assert not decisions.safe_default.any()
    lines = log_lines(log)
    assert lines[1]["input"]["annual_income"] is None
    assert [line["input_sha256"] for line in lines] == input_digests(frame, FEATURES)


def test_a_log_path_that_cannot_work_is_refused_at_once(
    model: Pipeline, schema: InputSchema, tmp_path: Path
) -> None:
    guard = Guard(model, schema, decision_log=tmp_path / "new" / "folder" / "log.jsonl")
    assert guard.decision_log is not None and guard.decision_log.parent.is_dir()
    with pytest.raises(UsageError, match="is a folder"):
        Guard(model, schema, decision_log=tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot create the folder"):
        Guard(model, schema, decision_log=tmp_path / "file" / "log.jsonl")
