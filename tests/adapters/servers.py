"""Minimal, real HTTP servers on 127.0.0.1 for the adapter tests (and other tests that need one).

- :class:`V2Server`: the Open Inference Protocol v2 over REST with MLServer's pandas codec,
  serving a fitted scikit-learn model (outputs ``predict`` by default, ``predict_proba`` on
  request, as MLServer's scikit-learn runtime does). MLServer itself cannot be installed
  beside the full environment (see the README), so the v2 client is tested against this one;
  its wire format was checked against MLServer 1.7.1 once, in a separate virtualenv.
- :class:`MLflowProtocolServer`: MLflow's ``/invocations`` + ``/ping`` with a configurable
  misbehaviour (:attr:`~MLflowProtocolServer.behaviour`), for failures a real server will not
  produce on demand. The real ``mlflow models serve`` is tested separately.

Both are context managers that always stop their server thread; request handlers sleep on
an event that stopping sets, so a "slow" server never holds up the end of a test.

:func:`save_mlflow_sklearn` writes a scikit-learn model as an MLflow model directory that
``mlflow models serve`` serves (needs mlflow).
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: What MLflowProtocolServer can do with a request.
BEHAVIOURS = ("ok", "error500", "reject", "bad_json", "wrong_rows", "close", "sleep", "crash400")


class _Server:
    """A ThreadingHTTPServer on a free loopback port, run in a daemon thread."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers
            # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

            def do_GET(self) -> None:
                outer._get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                outer.requests += 1
                outer._post(self, body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away (time-out tests) is expected

        self.requests = 0
        self.stopping = threading.Event()
        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        self.reply(handler, 404, {"error": f"no route {handler.path}"})

    def _post(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.reply(handler, 404, {"error": f"no route {handler.path}"})


# -- Open Inference Protocol v2 ----------------------------------------------------------------

_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _strict_json(body: bytes) -> Any:
    """Parse as a strict v2 server does: NaN and Infinity tokens are errors."""

    def refuse(token: str) -> Any:
        raise ValueError(f"invalid JSON token {token}")

    return json.loads(body, parse_constant=refuse)


def _column(tensor: dict[str, Any]) -> pd.Series:
    datatype, data = tensor["datatype"], tensor["data"]
    if datatype in ("FP32", "FP64"):
        values = [math.nan if v is None else _FLOATS.get(v, v) for v in data]
        return pd.Series(np.array(values, dtype=float), name=tensor["name"])
    if datatype.startswith(("INT", "UINT")):
        return pd.Series(np.array(data, dtype=np.int64), name=tensor["name"])
    if datatype == "BOOL":
        return pd.Series(np.array(data, dtype=bool), name=tensor["name"])
    return pd.Series(data, dtype=object, name=tensor["name"])


def _tensor(name: str, values: np.ndarray[Any, Any]) -> dict[str, Any]:
    kind = values.dtype.kind
    datatype = (
        "FP64" if kind == "f" else "INT64" if kind in "iu" else "BOOL" if kind == "b" else "BYTES"
    )
    return {
        "name": name,
        "shape": list(values.shape),
        "datatype": datatype,
        "data": values.reshape(-1).tolist(),
    }


class V2Server(_Server):
    """A v2 (Open Inference Protocol) server for one scikit-learn model named ``name``."""

    def __init__(self, model: Any, name: str = "credit") -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.ready = True

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path in ("/v2/health/live", "/v2/health/ready"):
            ok = self.ready or handler.path.endswith("live")
            self.reply(handler, 200 if ok else 503, {})
        elif handler.path == f"/v2/models/{self.name}/ready":
            self.reply(handler, 200, {})
        elif handler.path == f"/v2/models/{self.name}":
            self.reply(handler, 200, {"name": self.name, "platform": "sklearn", "versions": []})
        else:
            super()._get(handler)

    def _post(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        prefix = "/v2/models/"
        if not (handler.path.startswith(prefix) and handler.path.endswith("/infer")):
            return super()._post(handler, body)
        name = handler.path[len(prefix) : -len("/infer")].split("/versions/")[0]
        if name != self.name:
            return self.reply(handler, 404, {"error": f"Model {name} not found"})
        try:
            request = _strict_json(body)
            if (request.get("parameters") or {}).get("content_type") != "pd":
                raise ValueError("this server decodes the pandas codec only (content_type pd)")
            columns = []
            for tensor in request["inputs"]:
                if len(tensor["data"]) != math.prod(tensor["shape"]):
                    raise ValueError(f"input {tensor['name']} does not match its shape")
                columns.append(_column(tensor))
            frame = pd.concat(columns, axis=1) if columns else pd.DataFrame()
            wanted = [o["name"] for o in request.get("outputs") or [{"name": "predict"}]]
            unknown = set(wanted) - {"predict", "predict_proba"}
            if unknown:
                raise ValueError(f"unknown outputs {sorted(unknown)}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return self.reply(handler, 400, {"error": f"{type(exc).__name__}: {exc}"})
        try:
            outputs = [_tensor(o, np.asarray(getattr(self.model, o)(frame))) for o in wanted]
        except Exception as exc:
            return self.reply(handler, 500, {"error": f"{type(exc).__name__}: {exc}"})
        self.reply(
            handler,
            200,
            {"model_name": self.name, "id": str(uuid.uuid4()), "outputs": outputs},
        )


# -- MLflow's scoring protocol, with misbehaviour on demand ------------------------------------


class MLflowProtocolServer(_Server):
    """``POST /invocations`` and ``GET /ping``; :attr:`behaviour` says what a request gets.

    - ``ok``: ``{"predictions": model.predict_proba(frame)}`` (``[[0.5, 0.5]] * n`` without
      a model);
    - ``error500``: HTTP 500 with a text body; ``reject``: HTTP 400 with MLflow's JSON error
      (``INVALID_PARAMETER_VALUE``); ``crash400``: HTTP 400 as MLflow answers an exception
      raised by the model (``BAD_REQUEST`` + stack trace);
    - ``bad_json``: 200 with a body that is not JSON; ``wrong_rows``: 200 with one
      prediction more than rows;
    - ``close``: closes the connection without answering;
    - ``sleep``: answers after :attr:`sleep_s` seconds (or when the server stops).
    """

    def __init__(self, model: Any = None, *, behaviour: str = "ok", sleep_s: float = 5.0) -> None:
        super().__init__()
        self.model = model
        self.behaviour = behaviour
        self.sleep_s = sleep_s
        self.last_body = b""

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path in ("/ping", "/health"):
            self.reply(handler, 200, b"\n")
        else:
            super()._get(handler)

    def _post(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if handler.path != "/invocations":
            return super()._post(handler, body)
        self.last_body = body
        behaviour = self.behaviour
        if behaviour == "close":
            handler.close_connection = True
            return None
        if behaviour == "sleep":
            self.stopping.wait(self.sleep_s)
        if behaviour == "error500":
            return self.reply(handler, 500, b"Internal Server Error")
        if behaviour == "reject":
            return self.reply(
                handler,
                400,
                {"error_code": "INVALID_PARAMETER_VALUE", "message": "row 0: income is missing"},
            )
        if behaviour == "crash400":
            return self.reply(
                handler,
                400,
                {
                    "error_code": "BAD_REQUEST",
                    "message": "Encountered an unexpected error while evaluating the model. "
                    "Verify that the serialized input Dataframe is compatible with the model "
                    "for inference.",
                    "stack_trace": 'Traceback (most recent call last):\n  File "x.py"\n'
                    "ValueError: Input X contains NaN.\n",
                },
            )
        if behaviour == "bad_json":
            return self.reply(handler, 200, b"<html>not json</html>")
        payload = json.loads(body)  # json.loads accepts NaN tokens, as MLflow's server does
        split = payload["dataframe_split"]
        frame = pd.DataFrame(split["data"], columns=split["columns"])
        n = len(frame) + (1 if behaviour == "wrong_rows" else 0)
        if self.model is None:
            predictions: Any = [[0.5, 0.5]] * n
        else:
            predictions = self.model.predict_proba(frame).tolist()
            if behaviour == "wrong_rows":
                predictions.append(predictions[-1])
        return self.reply(handler, 200, {"predictions": predictions})


# -- A real MLflow model directory ----------------------------------------------------------------

#: The one type outside skops' default list in a HistGradientBoosting model (reviewed, ours).
TRUSTED_TREES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def save_mlflow_sklearn(
    model: Any, path: Path, example: pd.DataFrame | None = None, *, proba: bool = True
) -> Path:
    """Save ``model`` as an MLflow model directory at ``path`` (skops format).

    With ``example`` (a few input rows) the model gets a signature, so the scoring server
    itself rejects a missing column or an unconvertible value with HTTP 400. ``proba``
    serves ``predict_proba`` instead of ``predict``. Pip requirements are given, not
    inferred (inference starts a subprocess and takes seconds).
    """
    import mlflow.sklearn
    from mlflow.models import infer_signature

    signature = None
    if example is not None:
        output = model.predict_proba(example) if proba else model.predict(example)
        signature = infer_signature(example, output)
    mlflow.sklearn.save_model(
        model,
        str(path),
        pyfunc_predict_fn="predict_proba" if proba else "predict",
        signature=signature,
        pip_requirements=["scikit-learn"],
        skops_trusted_types=TRUSTED_TREES,
    )
    return path
