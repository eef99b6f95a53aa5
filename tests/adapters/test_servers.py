"""The HTTP clients against real servers on 127.0.0.1 (our minimal ones; see servers.py).

v2 against a minimal Open Inference Protocol server with MLServer's pandas codec, and MLflow's
protocol against a server that misbehaves on demand (500, bad JSON, wrong row count, closed
connection, an answer after the time limit). The real ``mlflow models serve`` is in
test_mlflow_live.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from prodready.adapters import MLflowClient, V2Client
from tests.adapters.servers import MLflowProtocolServer, V2Server
from tests.conftest import CATEGORICAL, NUMERIC, make_frame

FEATURES = NUMERIC + CATEGORICAL


def rows(n: int = 5) -> pd.DataFrame:
    return make_frame(n, 8)[FEATURES].reset_index(drop=True)


# -- v2 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v2_server(binary_model: Pipeline) -> Iterator[V2Server]:
    with V2Server(binary_model, "credit") as server:
        yield server


def test_v2_probabilities_equal_the_models(v2_server: V2Server, binary_model: Pipeline) -> None:
    frame = rows()
    with V2Client(v2_server.url, "credit", outputs=("predict_proba",)) as client:
        assert client.ping()
        reply = client.predict(frame)
    assert reply.kind == "answered" and reply.status == 200
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(frame), rtol=0, atol=1e-12)


def test_v2_default_output_is_the_predicted_class(
    v2_server: V2Server, binary_model: Pipeline
) -> None:
    frame = rows()
    with V2Client(v2_server.url, "credit") as client:
        reply = client.predict(frame)
    np.testing.assert_array_equal(reply.outputs, binary_model.predict(frame))


def test_v2_nan_inf_and_missing_category_reach_the_model_as_sent(
    v2_server: V2Server, binary_model: Pipeline
) -> None:
    frame = rows()
    frame.loc[0, "income"] = math.nan
    frame.loc[1, "age"] = math.inf
    frame.loc[2, "balance"] = -math.inf
    frame.loc[3, "region"] = None
    with V2Client(v2_server.url, "credit", outputs=("predict_proba",)) as client:
        reply = client.predict(frame)
    assert reply.kind == "answered"
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(frame), rtol=0, atol=1e-12)


def test_v2_failures(v2_server: V2Server) -> None:
    with V2Client(v2_server.url, "credit") as client:
        missing = client.predict(rows().drop(columns="region"))
        garbage = client.send(b'{"inputs": [', "application/json")
        no_codec = client.send(b'{"inputs": []}')
    assert missing.kind == "crashed" and missing.status == 500 and "region" in missing.error
    assert garbage.kind == "rejected" and garbage.status == 400
    assert no_codec.kind == "rejected" and "pandas codec" in no_codec.error
    with V2Client(v2_server.url, "unknown") as client:
        unknown = client.predict(rows())
    assert unknown.kind == "rejected" and unknown.error == "HTTP 404: Model unknown not found"


def test_v2_health(v2_server: V2Server) -> None:
    with V2Client(v2_server.url, "credit") as client:
        assert client.ping()
        v2_server.ready = False
        try:
            assert not client.ping()
        finally:
            v2_server.ready = True


# -- MLflow protocol, misbehaving ----------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(binary_model: Pipeline) -> Iterator[MLflowProtocolServer]:
    with MLflowProtocolServer(binary_model) as server:
        yield server


@pytest.fixture
def behaving(mlflow_server: MLflowProtocolServer) -> Iterator[MLflowProtocolServer]:
    yield mlflow_server
    mlflow_server.behaviour = "ok"


def test_mlflow_protocol_answer(behaving: MLflowProtocolServer, binary_model: Pipeline) -> None:
    frame = rows()
    frame.loc[0, "income"] = math.nan
    with MLflowClient(behaving.url) as client:
        assert client.ping()
        reply = client.predict(frame)
    assert reply.kind == "answered"
    np.testing.assert_allclose(reply.outputs, binary_model.predict_proba(frame), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("behaviour", "kind", "status", "error"),
    [
        ("error500", "crashed", 500, "Internal Server Error"),
        ("reject", "rejected", 400, "INVALID_PARAMETER_VALUE: row 0: income is missing"),
        ("crash400", "crashed", 400, "BAD_REQUEST: ValueError: Input X contains NaN."),
        ("bad_json", "malformed", 200, "the body is not JSON"),
        ("wrong_rows", "malformed", 200, "6 predictions for 5 rows"),
        ("close", "dropped", None, "RemoteProtocolError"),
    ],
)
def test_mlflow_protocol_misbehaviour(
    behaving: MLflowProtocolServer, behaviour: str, kind: str, status: int | None, error: str
) -> None:
    behaving.behaviour = behaviour
    with MLflowClient(behaving.url) as client:
        reply = client.predict(rows())
    assert (reply.kind, reply.status) == (kind, status)
    assert reply.error.startswith(error)


def test_mlflow_protocol_timeout(behaving: MLflowProtocolServer) -> None:
    behaving.behaviour = "sleep"
    behaving.sleep_s = 3.0
    with MLflowClient(behaving.url, timeout_s=0.3) as client:
        start = time.perf_counter()
        reply = client.predict(rows())
        elapsed = time.perf_counter() - start
    assert reply.kind == "timeout" and reply.status is None
    assert reply.error == "no answer within 0.3 s (ReadTimeout)"
    assert 0.3 <= elapsed < 1.5 and 0.3 <= reply.seconds < 1.5


def test_refused_connection_is_dropped() -> None:
    with MLflowProtocolServer() as server:
        url = server.url
    with MLflowClient(url, timeout_s=1) as client:  # nothing listens there any more
        reply = client.predict(rows())
        assert not client.ping()
    assert reply.kind == "dropped" and reply.error.startswith("ConnectError")


def test_the_connection_is_kept_alive(behaving: MLflowProtocolServer) -> None:
    """One TCP connection for many requests: a load test measures the server, not handshakes."""
    with MLflowClient(behaving.url) as client:
        client.predict(rows(1))
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        first = list(pool.connections)
        for _ in range(20):
            assert client.predict(rows(1)).kind == "answered"
        assert list(pool.connections) == first and len(first) == 1
