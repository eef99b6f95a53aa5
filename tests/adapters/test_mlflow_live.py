"""MLflowClient against a real ``mlflow models serve`` (one server for the module, ~10 s).

The model is the shared HistGradientBoosting pipeline, saved with a signature and served with
``predict_proba``: answers must equal the model's own probabilities, NaN and infinity rows
included, and the scoring server's own refusals and crashes must be classified as such.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from tests.conftest import CATEGORICAL, NUMERIC, make_frame, require_mlflow

mlflow = require_mlflow()

from prodready.adapters import MLflowClient, ServedModel, serve_mlflow  # noqa: E402
from tests.adapters.servers import save_mlflow_sklearn  # noqa: E402

FEATURES = NUMERIC + CATEGORICAL


@pytest.fixture(scope="module")
def served(
    binary_model: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedModel]:
    folder = tmp_path_factory.mktemp("served")
    directory = save_mlflow_sklearn(binary_model, folder / "model", make_frame(50, 30)[FEATURES])
    with serve_mlflow(directory, log_dir=folder / "logs") as server:
        yield server


@pytest.fixture(scope="module")
def client(served: ServedModel) -> Iterator[MLflowClient]:
    with MLflowClient(served.url, timeout_s=30) as client:
        yield client


def rows(n: int = 20) -> pd.DataFrame:
    return make_frame(n, 31)[FEATURES].reset_index(drop=True)


def test_ping_and_version(client: MLflowClient, served: ServedModel) -> None:
    assert client.ping()
    version = httpx.get(f"{served.url}/version", timeout=5, trust_env=False).text
    assert version == mlflow.__version__


def test_probabilities_equal_the_models(client: MLflowClient, binary_model: Pipeline) -> None:
    frame = rows()
    reply = client.predict(frame)
    assert reply.kind == "answered" and reply.status == 200
    assert reply.outputs is not None and reply.outputs.shape == (20, 2)
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(frame), rtol=0, atol=1e-9)
    assert reply.decision_ids is None and reply.safe_default is None


def test_records_payload_gives_the_same_answer(
    client: MLflowClient, binary_model: Pipeline
) -> None:
    frame = rows(3)
    reply = client.send(client.encode_records(frame))
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(frame), rtol=0, atol=1e-9)


def test_nan_inf_and_missing_category_reach_the_model(
    client: MLflowClient, binary_model: Pipeline
) -> None:
    frame = rows(5)
    frame.loc[0, "income"] = math.nan
    frame.loc[1, "age"] = math.inf
    frame.loc[2, "balance"] = -math.inf
    frame.loc[3, "region"] = None
    reply = client.predict(frame)
    assert reply.kind == "answered"
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(frame), rtol=0, atol=1e-9)


def test_the_signature_rejects_a_missing_column(client: MLflowClient) -> None:
    reply = client.predict(rows(2).drop(columns="region"))
    assert reply.kind == "rejected" and reply.status == 400
    assert reply.error.startswith("INVALID_PARAMETER_VALUE: ")
    assert "Model is missing inputs ['region']" in reply.error
    assert "income" not in reply.error  # the frame's repr is not what the error is about


def test_the_signature_rejects_an_unconvertible_value(client: MLflowClient) -> None:
    reply = client.predict(rows(2).assign(age="old"))
    assert reply.kind == "rejected" and reply.status == 400
    assert "Failed to convert column age" in reply.error


def test_an_exception_of_the_model_is_a_crash_although_mlflow_says_400(
    client: MLflowClient,
) -> None:
    reply = client.predict(rows(0))  # scikit-learn raises on an empty batch
    assert reply.kind == "crashed" and reply.status == 400
    assert reply.error.startswith("BAD_REQUEST: ValueError: Found array with 0 sample(s)")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "Ensure that input is a valid JSON"),
        (b"[1, 2]", "application/json", 400, "Received a list"),
        (b'{"dataframe_split": 5}', "application/json", 400, "must be a dictionary"),
        (b"income\n1\n", "text/plain", 415, "only supports the following content types"),
    ],
)
def test_malformed_payloads_are_rejected(
    client: MLflowClient, body: bytes, content_type: str, status: int, error: str
) -> None:
    reply = client.send(body, content_type)
    assert reply.kind == "rejected" and reply.status == status
    assert error in reply.error


def test_the_log_is_written(served: ServedModel) -> None:
    assert served.log_path.name == "server.log"
    assert "POST /invocations" in served.log_path.read_text()
    assert served.log_tail(3).count("\n") <= 2


def test_served_model_dir_is_absolute(served: ServedModel) -> None:
    assert Path(served.model_dir).is_absolute() and (served.model_dir / "MLmodel").is_file()
