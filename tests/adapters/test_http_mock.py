"""HTTP clients against an injected transport: every encoding, decoding and failure path.

No network: ``httpx.MockTransport`` plays the server. The same clients are tested against real
servers on 127.0.0.1 in test_servers.py and test_mlflow_live.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from prodready._exceptions import UsageError
from prodready.adapters import (
    Client,
    HTTPClient,
    InProcessClient,
    MLflowClient,
    Reply,
    V2Client,
    connect,
)

URL = "http://127.0.0.1:5123"
Handler = Callable[[httpx.Request], httpx.Response]


def frame(n: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": [50_000.0, 72_500.5, 31_000.0][:n],
            "age": np.array([30, 41, 57][:n], dtype=np.int64),
            "region": ["north", "south", "west"][:n],
        }
    )


def mlflow_client(handler: Handler, **kwargs: Any) -> MLflowClient:
    return MLflowClient(URL, transport=httpx.MockTransport(handler), **kwargs)


def v2_client(handler: Handler, **kwargs: Any) -> V2Client:
    return V2Client(URL, "credit", transport=httpx.MockTransport(handler), **kwargs)


def answer(payload: Any, status: int = 200) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(payload, bytes):
            return httpx.Response(status, content=payload)
        return httpx.Response(status, content=json.dumps(payload).encode())

    return handler


def raising(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("simulated", request=request)

    return handler


# -- MLflow: the request ----------------------------------------------------------------------


def test_mlflow_request_is_dataframe_split_posted_to_invocations() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"predictions": [[0.2, 0.8], [0.6, 0.4]]})

    with mlflow_client(handler) as client:
        reply = client.predict(frame())
    assert reply.kind == "answered" and reply.status == 200
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/invocations"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "dataframe_split": {
            "columns": ["income", "age", "region"],
            "data": [[50_000.0, 30, "north"], [72_500.5, 41, "south"]],
        }
    }


def test_mlflow_encodes_nan_inf_and_missing_as_the_server_parses_them() -> None:
    client = MLflowClient(URL)
    odd = pd.DataFrame(
        {
            "x": [math.nan, math.inf, -math.inf, 1.5],
            "c": ["a", None, math.nan, "b"],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "t": pd.to_datetime(["2024-01-02", None, "2024-03-04", "2024-05-06"]),
        }
    )
    body = client.encode(odd).decode()
    assert "NaN" in body and "Infinity" in body and "-Infinity" in body
    # Python's json (what MLflow's scoring server uses) reads back the same values.
    data = json.loads(body)["dataframe_split"]["data"]
    assert math.isnan(data[0][0]) and data[1][0] == math.inf and data[2][0] == -math.inf
    # A missing string is None with pandas 2's object columns, NaN with pandas 3's str dtype.
    assert data[1][1] is None or math.isnan(data[1][1])
    assert math.isnan(data[2][1])
    assert data[1][2] is None and data[0][2] == 1
    assert data[0][3].startswith("2024-01-02") and data[1][3] is None
    client.close()


def test_mlflow_records_encoding() -> None:
    client = MLflowClient(URL)
    records = json.loads(client.encode_records(frame()))["dataframe_records"]
    assert records == [
        {"income": 50_000.0, "age": 30, "region": "north"},
        {"income": 72_500.5, "age": 41, "region": "south"},
    ]
    client.close()


def test_send_posts_raw_bytes_with_the_given_content_type() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, json={"error_code": "BAD_REQUEST", "message": "Invalid input"})

    with mlflow_client(handler) as client:
        reply = client.send(b"{not json", "text/csv")
    assert seen[0].content == b"{not json" and seen[0].headers["content-type"] == "text/csv"
    assert reply.kind == "rejected" and reply.status == 400
    assert reply.error == "BAD_REQUEST: Invalid input"


# -- MLflow: the three answer shapes ----------------------------------------------------------


def test_mlflow_list_of_lists_is_probabilities() -> None:
    with mlflow_client(answer({"predictions": [[0.2, 0.8], [0.6, 0.4]]})) as client:
        reply = client.predict(frame())
    assert reply.outputs is not None and reply.outputs.shape == (2, 2)
    np.testing.assert_allclose(reply.outputs, [[0.2, 0.8], [0.6, 0.4]])
    assert reply.decision_ids is None and reply.safe_default is None
    assert reply.seconds > 0


def test_mlflow_list_of_scalars_is_predictions() -> None:
    with mlflow_client(answer({"predictions": [1, 0]})) as client:
        reply = client.predict(frame())
    assert reply.kind == "answered"
    np.testing.assert_array_equal(reply.outputs, [1.0, 0.0])
    with mlflow_client(answer({"predictions": ["good", "bad"]})) as client:
        labels = client.predict(frame())
    assert labels.outputs is not None and list(labels.outputs) == ["good", "bad"]


def test_mlflow_guard_records_give_probabilities_ids_and_safe_defaults() -> None:
    records = [
        {
            "decision_id": "d-1",
            "safe_default": False,
            "prediction": 1,
            "proba_0": 0.3,
            "proba_1": 0.7,
        },
        {
            "decision_id": "d-2",
            "safe_default": True,
            "prediction": 0,
            "proba_0": 1.0,
            "proba_1": 0.0,
        },
    ]
    with mlflow_client(answer({"predictions": records})) as client:
        reply = client.predict(frame())
    assert reply.kind == "answered"
    np.testing.assert_allclose(reply.outputs, [[0.3, 0.7], [1.0, 0.0]])
    assert reply.decision_ids == ("d-1", "d-2")
    np.testing.assert_array_equal(reply.safe_default, [False, True])


def test_mlflow_guard_records_order_proba_columns_by_class_index() -> None:
    records = [{f"proba_{k}": float(k) for k in (10, 2, 0, 1)} | {"prediction": "x"}]
    with mlflow_client(answer({"predictions": records})) as client:
        reply = client.predict(frame(1))
    np.testing.assert_array_equal(reply.outputs, [[0.0, 1.0, 2.0, 10.0]])


def test_mlflow_guard_records_of_a_regressor_give_predictions() -> None:
    records = [{"decision_id": "a", "safe_default": False, "prediction": 3.5}]
    with mlflow_client(answer({"predictions": records})) as client:
        reply = client.predict(frame(1))
    np.testing.assert_array_equal(reply.outputs, [3.5])
    assert reply.decision_ids == ("a",)


def test_mlflow_answer_with_nan_tokens_is_read() -> None:
    body = b'{"predictions": [[NaN, 1.0], [0.5, 0.5]]}'
    with mlflow_client(answer(body)) as client:
        reply = client.predict(frame())
    assert reply.kind == "answered" and reply.outputs is not None
    assert math.isnan(reply.outputs[0, 0])


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b"[1, 2]", 'no "predictions"'),
        (b'{"predictions": {"a": 1}}', "not a list"),
        (b'{"predictions": [[0.1, 0.9], 1]}', "mix"),
        (b'{"predictions": [[0.1, 0.9], [1.0]]}', "different lengths"),
        (b'{"predictions": [["a", "b"], ["c", "d"]]}', "non-numbers"),
        (b'{"predictions": [{"x": 1, "y": 2}, {"x": 1, "y": 2}]}', "neither prediction"),
        (b'{"predictions": [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]]}', "3 predictions for 2 rows"),
        (b'{"predictions": []}', "0 predictions for 2 rows"),
    ],
)
def test_mlflow_unreadable_success_bodies_are_malformed(body: bytes, problem: str) -> None:
    with mlflow_client(answer(body)) as client:
        reply = client.predict(frame())
    assert reply.kind == "malformed" and reply.status == 200
    assert problem in reply.error
    assert reply.outputs is None


def test_mlflow_send_skips_the_row_count_check() -> None:
    with mlflow_client(answer({"predictions": [1, 2, 3]})) as client:
        reply = client.send(b"{}")
    assert reply.kind == "answered" and reply.outputs is not None and len(reply.outputs) == 3


# -- MLflow: failures -------------------------------------------------------------------------


def test_mlflow_4xx_is_rejected_with_the_servers_message() -> None:
    error = {"error_code": "INVALID_PARAMETER_VALUE", "message": "row 0: income out of range"}
    with mlflow_client(answer(error, 400)) as client:
        reply = client.predict(frame())
    assert reply.kind == "rejected" and reply.status == 400
    assert reply.error == "INVALID_PARAMETER_VALUE: row 0: income out of range"


def test_mlflow_strips_the_frame_repr_it_prefixes_to_a_models_error() -> None:
    message = (
        "Failed to predict data '   income\n0  1.0\n1  2.0'. \nError: "
        '{"row": 0, "column": "income", "rule": "missing_value"}'
    )
    with mlflow_client(
        answer({"error_code": "INVALID_PARAMETER_VALUE", "message": message}, 400)
    ) as c:
        reply = c.predict(frame())
    assert reply.kind == "rejected"
    assert reply.error == (
        'INVALID_PARAMETER_VALUE: {"row": 0, "column": "income", "rule": "missing_value"}'
    )


def test_mlflow_signature_error_keeps_the_reason() -> None:
    message = (
        "Failed to enforce schema of data '   income\n0  1.0' with schema "
        "'['income': double (required), 'region': string (required)]'. "
        "Error: Model is missing inputs ['region']."
    )
    with mlflow_client(
        answer({"error_code": "INVALID_PARAMETER_VALUE", "message": message}, 400)
    ) as c:
        reply = c.predict(frame())
    assert reply.kind == "rejected"
    assert reply.error.endswith("Model is missing inputs ['region'].")
    assert "income\n0" not in reply.error


def test_mlflow_400_for_an_exception_of_the_model_is_a_crash() -> None:
    error = {
        "error_code": "BAD_REQUEST",
        "message": "Encountered an unexpected error while evaluating the model. Verify that...",
        "stack_trace": "Traceback (most recent call last):\n  File ...\n"
        "ValueError: Input X contains NaN.\nLogisticRegression does not accept NaN.\n",
    }
    with mlflow_client(answer(error, 400)) as client:
        reply = client.predict(frame())
    assert reply.kind == "crashed" and reply.status == 400
    assert reply.error.startswith(
        "BAD_REQUEST: ValueError: Input X contains NaN. LogisticRegression does not accept NaN. "
    )
    assert "unexpected error while evaluating the model" in reply.error


@pytest.mark.parametrize("status", [500, 502, 503, 504, 302, 101])
def test_non_4xx_errors_are_crashes(status: int) -> None:
    with mlflow_client(answer(b"Internal Server Error", status)) as client:
        reply = client.predict(frame())
    assert reply.kind == "crashed" and reply.status == status
    assert reply.error == "Internal Server Error"


def test_empty_error_body_is_described() -> None:
    with mlflow_client(answer(b"", 503)) as client:
        reply = client.predict(frame())
    assert reply.error == "HTTP 503 with an empty body"


def test_a_traceback_body_is_cut_to_the_exception_and_a_4xx_with_it_is_a_crash() -> None:
    trace = b"Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'region'\n"
    with v2_client(answer(trace, 422)) as client:
        reply = client.predict(frame())
    assert reply.kind == "crashed"
    assert reply.error == "HTTP 422: Traceback (most recent call last) … KeyError: 'region'"


def test_long_error_text_is_cut_to_500_characters() -> None:
    with mlflow_client(answer(b"x" * 5000, 500)) as client:
        reply = client.predict(frame())
    assert len(reply.error) == 500 and reply.error.endswith("…")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.ConnectTimeout, "timeout"),
        (httpx.WriteTimeout, "timeout"),
        (httpx.PoolTimeout, "timeout"),
        (httpx.ConnectError, "dropped"),
        (httpx.RemoteProtocolError, "dropped"),
        (httpx.ReadError, "dropped"),
        (httpx.WriteError, "dropped"),
    ],
)
def test_transport_failures(exc: type[httpx.TransportError], kind: str) -> None:
    with mlflow_client(raising(exc), timeout_s=0.5) as client:
        reply = client.predict(frame())
        raw = client.send(b"{}")
    assert reply.kind == kind and raw.kind == kind
    assert reply.status is None and reply.outputs is None
    if kind == "timeout":
        assert reply.error.startswith("no answer within 0.5 s")
    else:
        assert reply.error == f"{exc.__name__}: simulated"


def test_ping() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        return httpx.Response(200 if request.url.path == "/ping" else 404)

    with mlflow_client(handler) as client:
        assert client.ping() is True
    with v2_client(handler) as client:
        assert client.ping() is False  # /v2/health/ready is 404 here
    with mlflow_client(raising(httpx.ConnectError)) as client:
        assert client.ping() is False


def test_describe() -> None:
    assert MLflowClient(URL + "/").describe() == f"MLflow scoring protocol at {URL}"
    client = V2Client(URL, "credit", model_version="3")
    assert client.describe() == f"Open Inference Protocol v2 at {URL} (model credit version 3)"
    assert client.predict_path == "/v2/models/credit/versions/3/infer"


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="http"):
        MLflowClient("127.0.0.1:5000")
    with pytest.raises(UsageError, match="timeout_s"):
        MLflowClient(URL, timeout_s=0)
    with pytest.raises(UsageError, match="model_name"):
        V2Client(URL, "")


def test_decode_is_usable_on_its_own() -> None:
    """The load generator sends raw HTTP and decodes with the client's decode()."""
    client = MLflowClient(URL)
    assert client.base_url == URL and client.predict_path == "/invocations"
    assert client.content_type == "application/json"
    reply = client.decode(200, b'{"predictions": [[0.1, 0.9]]}', 1, seconds=0.25)
    assert reply.kind == "answered" and reply.seconds == 0.25 and reply.status == 200
    assert client.decode(200, b'{"predictions": [[0.1, 0.9]]}', 2).kind == "malformed"
    assert client.decode(429, b"slow down", 1).kind == "rejected"
    client.close()


# -- v2: the request --------------------------------------------------------------------------


def test_v2_request_uses_the_pandas_codec() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outputs = [{"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]}]
        return httpx.Response(200, json={"model_name": "credit", "outputs": outputs})

    odd = frame().assign(flag=[True, False], small=np.array([1, 2], dtype=np.uint8))
    with v2_client(handler) as client:
        reply = client.predict(odd)
    assert reply.kind == "answered"
    np.testing.assert_array_equal(reply.outputs, [1, 0])
    request = seen[0]
    assert request.url.path == "/v2/models/credit/infer"
    body = json.loads(request.content)
    assert body["parameters"] == {"content_type": "pd"}
    assert "outputs" not in body
    tensors = {t["name"]: t for t in body["inputs"]}
    assert [t["name"] for t in body["inputs"]] == ["income", "age", "region", "flag", "small"]
    assert tensors["income"] == {
        "name": "income",
        "shape": [2],
        "datatype": "FP64",
        "data": [50_000.0, 72_500.5],
    }
    assert tensors["age"]["datatype"] == "INT64" and tensors["age"]["data"] == [30, 41]
    assert tensors["region"] == {
        "name": "region",
        "shape": [2],
        "datatype": "BYTES",
        "parameters": {"content_type": "str"},
        "data": ["north", "south"],
    }
    assert tensors["flag"]["datatype"] == "BOOL" and tensors["flag"]["data"] == [True, False]
    assert tensors["small"]["datatype"] == "UINT64"


def test_v2_request_is_strict_json_with_proto3_special_floats() -> None:
    client = V2Client(URL, "m", outputs=("predict_proba",))
    odd = pd.DataFrame(
        {
            "x": [math.nan, math.inf, -math.inf, 2.0],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "c": ["a", None, math.nan, "b"],
            "t": pd.to_datetime(["2024-01-02", None, "2024-03-04", "2024-05-06"]),
        }
    )
    body = client.encode(odd)

    def strict(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token}")

    request = json.loads(body, parse_constant=strict)
    tensors = {t["name"]: t for t in request["inputs"]}
    assert tensors["x"]["data"] == ["NaN", "Infinity", "-Infinity", 2.0]
    # An integer column with a missing value goes as FP64: an INT64 tensor cannot hold null.
    assert tensors["n"]["datatype"] == "FP64" and tensors["n"]["data"] == [1.0, "NaN", 3.0, 4.0]
    assert tensors["c"]["data"] == ["a", None, None, "b"]
    assert tensors["t"]["datatype"] == "BYTES" and tensors["t"]["data"][1] is None
    assert request["outputs"] == [{"name": "predict_proba"}]
    client.close()


def test_v2_model_name_is_quoted_in_the_path() -> None:
    client = V2Client(URL, "credit risk/v1")
    assert client.predict_path == "/v2/models/credit%20risk%2Fv1/infer"
    client.close()


# -- v2: answers ------------------------------------------------------------------------------


def test_v2_probability_tensor_is_preferred() -> None:
    outputs = [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
        {
            "name": "predict_proba",
            "shape": [2, 2],
            "datatype": "FP64",
            "data": [0.2, 0.8, 0.7, 0.3],
        },
    ]
    with v2_client(answer({"outputs": outputs})) as client:
        reply = client.predict(frame())
    np.testing.assert_allclose(reply.outputs, [[0.2, 0.8], [0.7, 0.3]])


def test_v2_column_vector_output_is_flattened() -> None:
    outputs = [{"name": "y", "shape": [2, 1], "datatype": "FP64", "data": [1.5, 2.5]}]
    with v2_client(answer({"outputs": outputs})) as client:
        reply = client.predict(frame())
    assert reply.outputs is not None and reply.outputs.shape == (2,)


def test_v2_guard_columns() -> None:
    outputs = [
        {"name": "decision_id", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "safe_default", "shape": [2], "datatype": "BOOL", "data": [False, True]},
        {"name": "prediction", "shape": [2], "datatype": "INT64", "data": [1, 0]},
        {"name": "proba_0", "shape": [2], "datatype": "FP64", "data": [0.1, 1.0]},
        {"name": "proba_1", "shape": [2], "datatype": "FP64", "data": [0.9, 0.0]},
    ]
    with v2_client(answer({"outputs": outputs})) as client:
        reply = client.predict(frame())
    assert reply.kind == "answered"
    np.testing.assert_allclose(reply.outputs, [[0.1, 0.9], [1.0, 0.0]])
    assert reply.decision_ids == ("a", "b")
    np.testing.assert_array_equal(reply.safe_default, [False, True])


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"not json", "not JSON"),
        ({"predictions": [1, 2]}, 'no "outputs"'),
        ({"outputs": []}, "no outputs"),
        ({"outputs": ["x"]}, "not a tensor"),
        ({"outputs": [{"name": "y", "data": [1, 2]}]}, "lacks a name, a shape"),
        ({"outputs": [{"name": "y", "shape": [3], "data": [1, 2]}]}, "2 values for shape [3]"),
        ({"outputs": [{"name": "y", "shape": [3], "data": [1, 2, 3]}]}, "3 outputs for 2 rows"),
        ({"outputs": [{"name": "y", "shape": [1, 2, 1], "data": [1, 2]}]}, "no output has shape"),
        (
            {
                "outputs": [
                    {"name": "y", "shape": [2, 2], "datatype": "BYTES", "data": list("abcd")}
                ]
            },
            "non-numbers",
        ),
        (
            {"outputs": [{"name": "prediction", "shape": [3], "data": [1, 2, 3]}]},
            "3 outputs for 2 rows",
        ),
    ],
)
def test_v2_unreadable_answers_are_malformed(payload: Any, problem: str) -> None:
    with v2_client(answer(payload)) as client:
        reply = client.predict(frame())
    assert reply.kind == "malformed" and problem in reply.error


@pytest.mark.parametrize(
    ("status", "payload", "kind", "error"),
    [
        (400, {"error": "invalid input"}, "rejected", "HTTP 400: invalid input"),
        (404, {"error": "Model credit not found"}, "rejected", "HTTP 404: Model credit not found"),
        (422, {"detail": [{"msg": "JSON decode error"}]}, "rejected", "HTTP 422: [{'msg':"),
        (500, {"error": "ValueError: boom"}, "crashed", "HTTP 500: ValueError: boom"),
        (503, b"unavailable", "crashed", "unavailable"),
    ],
)
def test_v2_errors(status: int, payload: Any, kind: str, error: str) -> None:
    with v2_client(answer(payload, status)) as client:
        reply = client.predict(frame())
    assert reply.kind == kind and reply.status == status and reply.error.startswith(error)


# -- connect() --------------------------------------------------------------------------------


def endpoint_system(**endpoint: Any) -> SimpleNamespace:
    return SimpleNamespace(endpoint=SimpleNamespace(**endpoint))


def test_connect_builds_the_protocols_client_with_the_transport() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"predictions": [0.5]})

    system = endpoint_system(url=URL, protocol="mlflow", timeout_s=2.5)
    with connect(system, transport=httpx.MockTransport(handler)) as client:
        assert isinstance(client, MLflowClient) and client.timeout_s == 2.5
        assert client.predict(frame(1)).kind == "answered"
    assert calls == ["/invocations"]

    v2 = endpoint_system(url=URL, protocol="v2", model_name="credit", timeout_s=1.0)
    client = connect(v2)
    assert isinstance(client, V2Client) and client.predict_path == "/v2/models/credit/infer"
    client.close()


def test_connect_defaults_to_mlflow_and_five_seconds() -> None:
    client = connect(endpoint_system(url=URL))
    assert isinstance(client, MLflowClient) and client.timeout_s == 5.0
    client.close()


def test_connect_refuses_what_it_cannot_reach() -> None:
    with pytest.raises(UsageError, match=r"endpoint\.serve \(model/\) is not running yet"):
        connect(endpoint_system(url=None, serve="model/"))
    with pytest.raises(UsageError, match="mlflow or v2"):
        connect(endpoint_system(url=URL, protocol="grpc"))
    with pytest.raises(UsageError, match="model_name"):
        connect(endpoint_system(url=URL, protocol="v2"))


def test_connect_without_endpoint_is_in_process() -> None:
    class Model:
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
            return np.tile([0.25, 0.75], (len(X), 1))

    system = SimpleNamespace(
        endpoint=None, model=Model(), feature_columns=["income", "age"], is_classifier=True
    )
    client = connect(system)
    assert isinstance(client, InProcessClient) and client.protocol == "in-process"
    assert client.predict(frame()).outputs is not None


def test_connect_works_with_the_real_system(spec_dir: Any) -> None:
    from prodready.spec import load_spec

    system = load_spec(spec_dir / "spec.yaml")
    with connect(system) as client:
        reply = client.predict(system.X("current").head(3))
    assert isinstance(client, InProcessClient)
    assert reply.kind == "answered" and reply.outputs is not None
    np.testing.assert_allclose(
        reply.outputs, system.model.predict_proba(system.X("current").head(3))
    )


def test_clients_are_clients() -> None:
    assert issubclass(MLflowClient, HTTPClient) and issubclass(V2Client, HTTPClient)
    assert issubclass(HTTPClient, Client) and issubclass(InProcessClient, Client)
    assert Reply(kind="answered").answered and not Reply(kind="dropped").answered
