"""The guarded model as an MLflow pyfunc, under a real ``mlflow models serve`` (one per module).

The model is deliberately fragile (a logistic regression raises on NaN) and its reference has
missing balances, so the guard lets a NaN balance through to a model that fails on it: that
shows what the scoring server makes of a plain exception. Requests are raw JSON posted with
httpx, as any client would send them; the decision log's path comes from the environment
variable the server is started with.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from tests.conftest import CATEGORICAL, NUMERIC, make_frame, pipeline, require_mlflow

mlflow = require_mlflow()

import skops.io as sio  # noqa: E402

from prodready import _chain  # noqa: E402
from prodready._exceptions import ModelLoadError, UsageError  # noqa: E402
from prodready.adapters.serve import serve_mlflow  # noqa: E402
from prodready.guard import (  # noqa: E402
    DECISION_LOG_ENV,
    InputSchema,
    input_digest,
    read_decisions,
    save_mlflow,
)

FEATURES = NUMERIC + CATEGORICAL


def applicants(n: int, seed: int) -> pd.DataFrame:
    frame = make_frame(n, seed)
    frame["age"] = frame["age"].astype(np.int64)  # an int column: it must arrive as ints
    return frame


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Served:
    url: str
    log: Path
    default_log: Path
    skops: Path
    directory: Path
    model: Pipeline


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("guarded")
    training = applicants(800, 41)
    model = pipeline(LogisticRegression(max_iter=1000), scale=True)
    model.fit(training[FEATURES], training["target"])
    sio.dump(model, folder / "model.skops")
    reference = applicants(800, 42)
    reference.loc[::5, "balance"] = math.nan  # missing balances are normal here
    schema = InputSchema.learn(reference, FEATURES, CATEGORICAL)
    directory = save_mlflow(
        folder / "model",
        model_path=folder / "model.skops",
        schema=schema,
        decision_log=folder / "default.jsonl",
        model_version="fragile 1",
    )
    log = folder / "served.jsonl"
    with serve_mlflow(directory, env={DECISION_LOG_ENV: str(log)}, log_dir=folder) as server:
        yield Served(
            server.url, log, folder / "default.jsonl", folder / "model.skops", directory, model
        )


def post(served: Served, body: Any) -> httpx.Response:
    return httpx.post(f"{served.url}/invocations", json=body, timeout=30, trust_env=False)


def split(frame: pd.DataFrame) -> dict[str, Any]:
    """A ``dataframe_split`` body as a client writes it: plain JSON values, row by row."""
    data = [list(row) for row in frame.itertuples(index=False)]
    return {"dataframe_split": {"columns": list(frame.columns), "data": data}}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_valid_rows_are_answered_with_ids_that_the_log_traces(served: Served) -> None:
    frame = applicants(12, 43)[FEATURES]
    body = split(frame)
    before = len(lines(served.log))
    response = post(served, body)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert [set(a) for a in answers] == [
        {
            "decision_id",
            "safe_default",
            "prediction",
            "proba_0",
            "proba_1",
            "model_version",
            "model_sha256",
        }
    ] * 12
    expected = served.model.predict_proba(frame)
    np.testing.assert_allclose(
        [[a["proba_0"], a["proba_1"]] for a in answers], expected, rtol=0, atol=1e-12
    )
    assert [a["prediction"] for a in answers] == served.model.predict(frame).tolist()
    assert not any(a["safe_default"] for a in answers)
    ids = [a["decision_id"] for a in answers]
    assert len(set(ids)) == 12

    logged = lines(served.log)[before:]
    assert [line["decision_id"] for line in logged] == ids
    sent = body["dataframe_split"]
    for row, line in zip(sent["data"], logged, strict=True):
        # The digest of what the client sent (ints as ints) is the one the server logged.
        assert line["input_sha256"] == input_digest(dict(zip(sent["columns"], row, strict=True)))
        assert line["model_version"] == "fragile 1"
        # The logged model digest is the original .skops file's, and the served artifact's.
        assert line["model_sha256"] == sha256(served.skops)
        assert line["model_sha256"] == sha256(served.directory / "artifacts" / "model.skops")
        assert line["intervened"] is False
    assert set(ids) <= set(read_decisions(served.log))
    assert _chain.verify(served.log).ok
    assert not served.default_log.exists()  # the environment variable won


def test_records_are_answered_too(served: Served) -> None:
    frame = applicants(3, 44)[FEATURES]
    records = [dict(zip(FEATURES, row, strict=True)) for row in frame.itertuples(index=False)]
    response = post(served, {"dataframe_records": records})
    assert response.status_code == 200, response.text
    ids = [a["decision_id"] for a in response.json()["predictions"]]
    logged = read_decisions(served.log)
    assert [logged[i]["input_sha256"] for i in ids] == [input_digest(r) for r in records]


def test_invalid_rows_are_refused_with_400_naming_row_column_and_rule(served: Served) -> None:
    frame = applicants(4, 45)[FEATURES]
    body = split(frame)
    data = body["dataframe_split"]["data"]
    data[0][FEATURES.index("age")] = "forty"
    data[1][FEATURES.index("income")] = 1e12
    data[2][FEATURES.index("region")] = "atlantis"
    data[3][FEATURES.index("debt_ratio")] = None
    before = len(lines(served.log))
    response = post(served, body)
    assert response.status_code == 400
    error = response.json()
    assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    message = error["message"]
    assert "input rejected: 4 violation(s) in 4 of 4 row(s)" in message
    for text in (
        "row 0, column 'age': wrong_type: 'forty' is a str, expected a number",
        "row 1, column 'income': out_of_range: 1000000000000.0 is above the accepted maximum",
        "row 2, column 'region': unseen_category: 'atlantis' is not a category",
        "row 3, column 'debt_ratio': missing_value",
    ):
        assert text in message
    assert error["violation_count"] == 4
    assert [(v["row"], v["column"], v["rule"]) for v in error["violations"]] == [
        (0, "age", "wrong_type"),
        (1, "income", "out_of_range"),
        (2, "region", "unseen_category"),
        (3, "debt_ratio", "missing_value"),
    ]
    assert len(lines(served.log)) == before  # refused requests are not decisions


def test_non_finite_values_and_missing_columns_are_refused(served: Served) -> None:
    frame = applicants(1, 46)[FEATURES]
    response = post(served, split(frame.drop(columns=["region"])))
    assert response.status_code == 400
    assert "row 0, column 'region': missing_column" in response.json()["message"]
    infinite = json.dumps(split(frame.assign(income=math.inf)))  # sent as the literal Infinity
    assert "Infinity" in infinite
    response = httpx.post(
        f"{served.url}/invocations",
        content=infinite.encode(),
        headers={"Content-Type": "application/json"},
        timeout=30,
        trust_env=False,
    )
    assert response.status_code == 400
    assert "row 0, column 'income': not_finite" in response.json()["message"]


def test_an_exception_of_the_model_is_a_400_with_a_stack_trace_not_a_500(served: Served) -> None:
    # MLflow 3.17's scoring server wraps any exception of the model (other than its own
    # MlflowException) as BAD_REQUEST, which is HTTP 400, with the traceback in the body.
    frame = applicants(2, 47)[FEATURES].astype({"balance": object})
    frame.loc[1, "balance"] = None  # allowed by the schema, fatal to the model
    response = post(served, split(frame))
    assert response.status_code == 400
    error = response.json()
    assert error["error_code"] == "BAD_REQUEST"
    assert error["message"].startswith("Encountered an unexpected error while evaluating")
    assert "ValueError" in error["stack_trace"] and "NaN" in error["stack_trace"]


def test_the_saved_model_loads_in_process_with_the_log_from_the_environment(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "in-process.jsonl"
    monkeypatch.setenv(DECISION_LOG_ENV, str(log))
    loaded = mlflow.pyfunc.load_model(str(served.directory))
    answer = loaded.predict(applicants(2, 48)[FEATURES])
    assert list(answer.columns) == [
        "decision_id",
        "safe_default",
        "prediction",
        "proba_0",
        "proba_1",
        "model_version",
        "model_sha256",
    ]
    assert set(answer["model_version"]) == {"fragile 1"}
    assert set(answer["model_sha256"]) == {sha256(served.skops)}
    assert [line["decision_id"] for line in lines(log)] == answer["decision_id"].tolist()
    assert (served.directory / "guarded_model.py").is_file()  # code, no pickle
    assert not list(served.directory.glob("*.pkl"))


def test_a_safe_default_model_answers_invalid_rows(served: Served, tmp_path: Path) -> None:
    reference = applicants(300, 49)
    schema = InputSchema.learn(reference, FEATURES, CATEGORICAL)
    directory = save_mlflow(
        tmp_path / "model",
        model_path=served.skops,
        schema=schema,
        on_invalid="safe_default",
        safe_default=np.int64(1),
        decision_log=tmp_path / "log.jsonl",
    )
    loaded = mlflow.pyfunc.load_model(str(directory))
    frame = applicants(3, 50)[FEATURES].astype({"region": object})
    frame.loc[1, "region"] = "atlantis"
    answer = loaded.predict(frame)
    assert answer["safe_default"].tolist() == [False, True, False]
    assert answer.loc[1, ["prediction", "proba_0", "proba_1"]].tolist() == [1, 0.0, 1.0]
    logged = lines(tmp_path / "log.jsonl")
    assert [line["intervened"] for line in logged] == [False, "safe_default", False]


def test_saving_refuses_what_would_fail_in_the_server(served: Served, tmp_path: Path) -> None:
    schema = InputSchema.learn(applicants(100, 51), FEATURES, CATEGORICAL)
    with pytest.raises(UsageError, match="already exists"):
        save_mlflow(served.directory, model_path=served.skops, schema=schema)
    with pytest.raises(UsageError, match="does not exist"):
        save_mlflow(tmp_path / "m", model_path=tmp_path / "none.skops", schema=schema)
    narrow = InputSchema.learn(applicants(100, 51), ["income"])
    with pytest.raises(UsageError, match="disagree on the features"):
        save_mlflow(tmp_path / "m", model_path=served.skops, schema=narrow)
    with pytest.raises(UsageError, match="needs a safe_default"):
        save_mlflow(
            tmp_path / "m", model_path=served.skops, schema=schema, on_invalid="safe_default"
        )
    from sklearn.ensemble import HistGradientBoostingClassifier

    trees = pipeline(HistGradientBoostingClassifier(max_iter=3))
    trees.fit(applicants(200, 52)[FEATURES], applicants(200, 52)["target"])
    sio.dump(trees, tmp_path / "trees.skops")
    with pytest.raises(ModelLoadError, match="types skops does not trust"):
        save_mlflow(tmp_path / "m", model_path=tmp_path / "trees.skops", schema=schema)
    assert not (tmp_path / "m").exists()
