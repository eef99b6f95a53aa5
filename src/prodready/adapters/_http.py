"""HTTP clients: MLflow's scoring protocol and the Open Inference Protocol v2.

Both share :class:`HTTPClient`: one :class:`httpx.Client` per client object, kept alive
between requests (a load test must measure the server, not TCP handshakes), a time limit per
request, and one mapping from what happened on the wire to a :class:`Reply` kind:

- a 2xx status whose body the protocol's decoder reads, with one output per row sent:
  ``answered``; a 2xx body it cannot read, or with another number of outputs: ``malformed``;
- a 4xx status: ``rejected`` (the server refused the input), except a body that is a
  Python traceback, or MLflow's answer to an exception raised by the model itself (see
  :class:`MLflowClient`): ``crashed``;
- any other status (5xx, 1xx, 3xx): ``crashed``;
- no answer within ``timeout_s`` (httpx's connect, read, write and pool limits each):
  ``timeout``; a refused, reset or closed connection: ``dropped``.

The load generator speaks raw HTTP itself, for speed, and uses the same protocol pieces:
:attr:`HTTPClient.base_url`, :attr:`~HTTPClient.predict_path`,
:attr:`~HTTPClient.content_type`, :meth:`~HTTPClient.encode` and :meth:`~HTTPClient.decode`.

JSON has no NaN or infinity. Both encoders write Python's ``NaN``, ``Infinity`` and
``-Infinity`` tokens for them (and ``null`` for None, pd.NA and NaT), because that is what the
servers parse back into the same values: MLflow's scoring server and MLServer read request
bodies with Python's :func:`json.loads`, which accepts those tokens, and MLflow writes them in
its own answers. A server with a strict JSON parser rejects such a request (a 4xx), which is
the truth about how it handles a missing value sent as NaN.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import math
import re
import time
import urllib.parse
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

import httpx
import numpy as np
import pandas as pd

from prodready._exceptions import UsageError
from prodready.adapters._base import Client, Reply, ReplyKind

__all__ = ["HTTPClient", "MLflowClient", "V2Client"]

#: How much of a server's error text a Reply keeps.
ERROR_CHARS = 500
#: Columns of a guarded model's answer (see the guard's MLflow pyfunc).
_PROBA_RE = re.compile(r"^proba_(\d+)$")
_SCHEMA_ERROR = re.compile(
    r"Failed to enforce schema of data '.*' with schema '.*'\. Error: (.*)$", re.S
)


def _json_default(value: Any) -> Any:
    """JSON for what :func:`json.dumps` does not know: numpy scalars, dates, missing values."""
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    # Anything else (a probe's deliberately odd object) goes as its text, as a client would.
    return str(value)


def _strict(values: list[Any], *, missing_nan: bool = False) -> list[Any]:
    """``values`` with NaN and infinities as proto3 JSON strings (NaN as null if missing)."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                value = None if missing_nan else "NaN"
            else:
                value = "Infinity" if value > 0 else "-Infinity"
        elif value is pd.NA or value is pd.NaT:
            value = None
        out.append(value)
    return out


def _dumps(payload: Any) -> bytes:
    # allow_nan=True (the default) writes NaN/Infinity tokens: see the module docstring.
    return json.dumps(payload, default=_json_default, separators=(",", ":")).encode("utf-8")


def _cut(text: str) -> str:
    """One error text as a Reply keeps it: stripped, at most :data:`ERROR_CHARS` characters."""
    text = text.strip()
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


_TRACEBACK = "Traceback (most recent call last)"


def _is_traceback(body: bytes) -> bool:
    return body.lstrip()[:40].startswith(_TRACEBACK.encode())


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(: |:$)")


def _exception_of(trace: str) -> str:
    """The exception at the end of a Python traceback ("ValueError: ..."), on one line.

    Its message may span lines (scikit-learn's NaN error does): everything from the last
    unindented "Name: " line on, joined by spaces.
    """
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
    tail = lines[starts[-1] :] if starts else lines[-1:]
    return " ".join(line.strip() for line in tail)


def _body_text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _as_array(values: Sequence[Any]) -> np.ndarray[Any, Any]:
    """An array of answers: floats when every value is a number (None becomes NaN), else objects."""
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return np.array([math.nan if v is None else v for v in values], dtype=float)
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


def _as_ids(values: Sequence[Any]) -> tuple[str | None, ...]:
    return tuple(None if v is None else str(v) for v in values)


def _as_mask(values: Sequence[Any]) -> np.ndarray[Any, Any]:
    return np.array([v is True or v == 1 or v == "true" for v in values], dtype=bool)


class HTTPClient(Client):
    """The shared part of the HTTP clients: connection, time limit, kinds of failure.

    ``url`` is the server's base URL (``http://127.0.0.1:5123``); ``timeout_s`` the time
    limit of one request (each of connecting, sending, waiting for the answer); ``transport``
    replaces the network (tests pass an :class:`httpx.MockTransport`). Proxy settings from
    the environment are ignored for loopback URLs, so that an ``HTTP_PROXY`` meant for the
    internet cannot swallow requests to a local server.
    """

    #: The prediction route, relative to :attr:`base_url`.
    predict_path: str
    #: The route that answers 200 when the server is ready.
    health_path: str
    #: The Content-Type of the bodies :meth:`encode` writes.
    content_type: str = "application/json"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"the endpoint URL must start with http:// or https://, got {url!r}")
        if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise UsageError(f"timeout_s must be a number of seconds > 0, got {timeout_s!r}")
        self.base_url = url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout_s),
            transport=transport,
            headers={"accept": "application/json", **dict(headers or {})},
            trust_env=not _is_loopback(self.base_url),
            follow_redirects=False,
        )

    # -- the protocol: subclasses say how a frame is written and an answer read -------------

    @abstractmethod
    def encode(self, frame: pd.DataFrame) -> bytes:
        """The request body this protocol sends for ``frame`` (one row per decision)."""

    @abstractmethod
    def decode_answer(self, body: bytes, n_rows: int | None) -> Reply:
        """Read a 2xx body: an ``answered`` or a ``malformed`` Reply (status filled in later)."""

    def error_text(self, status: int, body: bytes) -> str:
        """The server's own error text from a non-2xx body (subclasses unwrap their JSON).

        A Python traceback (what some servers send with a 500) is cut to the exception at
        its end: its first 500 characters would be file names.
        """
        text = _body_text(body).strip()
        if _is_traceback(body):
            text = f"HTTP {status}: {_TRACEBACK} … {_exception_of(text)}"
        return _cut(text) or f"HTTP {status} with an empty body"

    def error_kind(self, status: int, body: bytes) -> ReplyKind:
        """``rejected`` for a 4xx, else ``crashed``.

        A 4xx whose body is a Python traceback is ``crashed``: the server passed on an
        exception rather than refusing the input (MLflow refines this further).
        """
        return "rejected" if 400 <= status < 500 and not _is_traceback(body) else "crashed"

    def decode(
        self, status: int, body: bytes, n_rows: int | None, *, seconds: float = 0.0
    ) -> Reply:
        """The Reply for an HTTP answer: ``status``, raw ``body``, number of rows sent.

        ``n_rows`` None (a raw :meth:`send`) skips the check that there is one output per
        row. Never raises.
        """
        if 200 <= status < 300:
            reply = self.decode_answer(body, n_rows)
            return replace(reply, status=status, seconds=seconds)
        kind = self.error_kind(status, body)
        return Reply(
            kind=kind,
            status=status,
            error=self.error_text(status, body),
            seconds=seconds,
        )

    # -- the Client interface ---------------------------------------------------------------

    def predict(self, frame: pd.DataFrame) -> Reply:
        """Send ``frame`` with this protocol's encoding and return the classified reply."""
        return self._post(self.encode(frame), self.content_type, len(frame))

    def send(self, body: bytes, content_type: str = "application/json") -> Reply:
        """POST a raw ``body`` to :attr:`predict_path` (for malformed payloads)."""
        return self._post(body, content_type, None)

    def _post(self, body: bytes, content_type: str, n_rows: int | None) -> Reply:
        start = time.perf_counter()
        try:
            response = self._http.post(
                self.predict_path, content=body, headers={"content-type": content_type}
            )
        except httpx.TimeoutException as exc:
            return Reply(
                kind="timeout",
                error=_cut(f"no answer within {self.timeout_s:g} s ({type(exc).__name__})"),
                seconds=time.perf_counter() - start,
            )
        except httpx.TransportError as exc:
            # Refused, reset, closed without an answer (RemoteProtocolError), broken TLS...
            return Reply(
                kind="dropped",
                error=_cut(f"{type(exc).__name__}: {exc}"),
                seconds=time.perf_counter() - start,
            )
        return self.decode(
            response.status_code,
            response.content,
            n_rows,
            seconds=time.perf_counter() - start,
        )

    def ping(self) -> bool:
        """True when :attr:`health_path` answers 200 within the time limit."""
        try:
            return self._http.get(self.health_path).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._http.close()


class MLflowClient(HTTPClient):
    """MLflow's scoring protocol (``mlflow models serve``, MLflow 3): one ``POST /invocations``.

    Requests are ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``. Answers
    are ``{"predictions": ...}`` in one of three shapes, all understood by :meth:`decode`:

    - a list of lists: class probabilities per row (a model served with
      ``pyfunc_predict_fn="predict_proba"``), outputs of shape ``(n, k)``;
    - a list of scalars: one prediction per row, shape ``(n,)``;
    - a list of records: a DataFrame answer, as the guard's pyfunc gives (``decision_id``,
      ``safe_default``, ``prediction``, ``proba_0..proba_{k-1}``): the ``proba_*`` columns
      (in order) are the outputs when present, else ``prediction``, else the only column.

    MLflow's scoring server answers HTTP 400 ``BAD_REQUEST`` both to an input it refused and
    to *any exception the model raised* ("Encountered an unexpected error while evaluating
    the model"). The second is a crash of the system, not a clean rejection: it is classified
    ``crashed``, with the model's exception (the last line of the stack trace) in the error.
    """

    protocol: ClassVar[str] = "mlflow"
    predict_path = "/invocations"
    health_path = "/ping"

    def describe(self) -> str:
        return f"MLflow scoring protocol at {self.base_url}"

    def encode(self, frame: pd.DataFrame) -> bytes:
        # to_numpy(object).tolist() gives Python floats and strings (fastest way, measured).
        columns = [str(c) for c in frame.columns]
        return _dumps(
            {"dataframe_split": {"columns": columns, "data": frame.to_numpy(dtype=object).tolist()}}
        )

    def encode_records(self, frame: pd.DataFrame) -> bytes:
        """The same frame as ``{"dataframe_records": [{column: value}, ...]}``."""
        columns = [str(c) for c in frame.columns]
        rows = frame.to_numpy(dtype=object).tolist()
        return _dumps({"dataframe_records": [dict(zip(columns, row, strict=True)) for row in rows]})

    @staticmethod
    def _mlflow_error(body: bytes) -> dict[str, Any] | None:
        try:
            error = json.loads(body)
        except ValueError:
            return None
        return error if isinstance(error, dict) else None

    def error_kind(self, status: int, body: bytes) -> ReplyKind:
        error = self._mlflow_error(body)
        message = str(error.get("message", "")) if error else ""
        if message.startswith("Encountered an unexpected error while evaluating the model"):
            return "crashed"
        return super().error_kind(status, body)

    def error_text(self, status: int, body: bytes) -> str:
        error = self._mlflow_error(body)
        if error is None or "message" not in error:
            return super().error_text(status, body)
        code = str(error.get("error_code", "")) or f"HTTP {status}"
        message = str(error["message"])
        # MLflow prefixes a model's MlflowException with the whole input frame's repr:
        # "Failed to predict data '<frame>'. \nError: <message>". Keep the message.
        head, sep, tail = message.partition("\nError: ")
        if sep and head.startswith("Failed to predict data"):
            message = tail
        # Likewise for a signature check: "Failed to enforce schema of data '<frame>' with
        # schema '<schema>'. Error: <reason>".
        schema = _SCHEMA_ERROR.match(message)
        if schema:
            message = f"the input does not fit the model's signature: {schema.group(1)}"
        trace = str(error.get("stack_trace") or "").strip()
        if trace:
            message = f"{_exception_of(trace)} ({message.strip()})"
        return _cut(f"{code}: {message}")

    def decode_answer(self, body: bytes, n_rows: int | None) -> Reply:
        try:
            answer = json.loads(body)
        except ValueError:
            return _malformed("the body is not JSON", body)
        if not isinstance(answer, dict) or "predictions" not in answer:
            return _malformed('the body has no "predictions"', body)
        predictions = answer["predictions"]
        if not isinstance(predictions, list):
            return _malformed('"predictions" is not a list', body)
        if n_rows is not None and len(predictions) != n_rows:
            return _malformed(f"{len(predictions)} predictions for {n_rows} rows", body)
        if predictions and all(isinstance(p, dict) for p in predictions):
            columns = {key: [row.get(key) for row in predictions] for key in predictions[0]}
            return _from_columns(columns, body)
        if any(isinstance(p, (dict, list)) for p in predictions):
            if not all(isinstance(p, list) for p in predictions):
                return _malformed("the predictions mix lists, records and values", body)
            widths = {len(p) for p in predictions}
            if len(widths) != 1:
                return _malformed("rows of the predictions have different lengths", body)
            try:
                outputs = np.array(
                    [[math.nan if v is None else v for v in p] for p in predictions], dtype=float
                )
            except (TypeError, ValueError):
                return _malformed("the predictions are lists of non-numbers", body)
            return Reply(kind="answered", outputs=outputs)
        return Reply(kind="answered", outputs=_as_array(predictions))


class V2Client(HTTPClient):
    """The Open Inference Protocol v2 (KServe, Triton, MLServer, Seldon) over REST.

    ``POST /v2/models/{model_name}[/versions/{model_version}]/infer`` with MLServer's pandas
    codec: request ``parameters: {"content_type": "pd"}`` and one input tensor per column,
    ``shape [n]``, datatype ``FP64`` (floats), ``INT64`` / ``UINT64`` (integers), ``BOOL``, or
    ``BYTES`` with ``parameters: {"content_type": "str"}`` (strings and anything else).
    ``outputs`` names the output tensors to ask for (for MLServer's scikit-learn runtime,
    ``("predict_proba",)``; without it the server sends its default outputs).

    The answer's ``outputs`` tensors (``name``, ``shape``, ``datatype``, flat ``data``) are
    read as: the guard's columns when present (``proba_*``, ``prediction``, ``decision_id``,
    ``safe_default``, as a pyfunc model served with the pandas codec answers); else the first
    tensor of shape ``[n, k]`` with k > 1 (probabilities); else the first of shape ``[n]`` or
    ``[n, 1]``. Health: ``GET /v2/health/ready``.
    """

    protocol: ClassVar[str] = "v2"
    health_path = "/v2/health/ready"

    def __init__(
        self,
        url: str,
        model_name: str,
        *,
        model_version: str | None = None,
        outputs: Sequence[str] = (),
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if not model_name:
            raise UsageError("the v2 protocol needs the model's name (endpoint.model_name)")
        super().__init__(url, timeout_s=timeout_s, transport=transport, headers=headers)
        self.model_name = model_name
        self.model_version = model_version
        self.outputs = tuple(outputs)
        route = f"/v2/models/{urllib.parse.quote(model_name, safe='')}"
        if model_version:
            route += f"/versions/{urllib.parse.quote(model_version, safe='')}"
        self.predict_path = f"{route}/infer"

    def describe(self) -> str:
        version = f" version {self.model_version}" if self.model_version else ""
        return f"Open Inference Protocol v2 at {self.base_url} (model {self.model_name}{version})"

    def encode(self, frame: pd.DataFrame) -> bytes:
        # Strict JSON (v2 servers parse with strict parsers: MLServer answers 422 to a NaN
        # token), with proto3's JSON mapping of the special floats, which the v2 protocol's
        # gRPC definition implies: NaN as "NaN", infinities as "Infinity" / "-Infinity";
        # None, pd.NA and NaT as null. MLServer reads both null and "NaN" as NaN.
        n = len(frame)
        inputs = []
        for position, name in enumerate(frame.columns):
            column = frame.iloc[:, position]
            tensor: dict[str, Any] = {"name": str(name), "shape": [n]}
            dtype = column.dtype
            if pd.api.types.is_bool_dtype(dtype) and not column.hasnans:
                tensor["datatype"] = "BOOL"
                data = column.tolist()
            elif pd.api.types.is_integer_dtype(dtype) and not column.hasnans:
                unsigned = pd.api.types.is_unsigned_integer_dtype(dtype)
                tensor["datatype"] = "UINT64" if unsigned else "INT64"
                data = column.tolist()
            elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                # Floats, and integers with missing values (an INT64 tensor cannot hold null).
                tensor["datatype"] = "FP64"
                values = column.to_numpy(dtype=float, na_value=math.nan)
                data = values.tolist() if np.isfinite(values).all() else _strict(values.tolist())
            else:
                tensor["datatype"] = "BYTES"
                tensor["parameters"] = {"content_type": "str"}
                data = _strict(column.tolist(), missing_nan=True)
            tensor["data"] = data
            inputs.append(tensor)
        request: dict[str, Any] = {"parameters": {"content_type": "pd"}, "inputs": inputs}
        if self.outputs:
            request["outputs"] = [{"name": name} for name in self.outputs]
        return json.dumps(
            request, default=_json_default, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")

    def error_text(self, status: int, body: bytes) -> str:
        try:
            error = json.loads(body)
        except ValueError:
            return super().error_text(status, body)
        # KServe and MLServer answer {"error": "..."}; FastAPI-based servers {"detail": ...}.
        if isinstance(error, dict):
            for key in ("error", "detail", "message"):
                if key in error:
                    return _cut(f"HTTP {status}: {error[key]}")
        return super().error_text(status, body)

    def decode_answer(self, body: bytes, n_rows: int | None) -> Reply:
        try:
            answer = json.loads(body)
        except ValueError:
            return _malformed("the body is not JSON", body)
        if not isinstance(answer, dict) or not isinstance(answer.get("outputs"), list):
            return _malformed('the body has no "outputs" list', body)
        tensors: dict[str, np.ndarray[Any, Any]] = {}
        for tensor in answer["outputs"]:
            if not isinstance(tensor, dict):
                return _malformed("an output is not a tensor object", body)
            name, shape, data = tensor.get("name"), tensor.get("shape"), tensor.get("data")
            if not (
                isinstance(name, str)
                and isinstance(shape, list)
                and all(isinstance(d, int) and d >= 0 for d in shape)
                and isinstance(data, list)
            ):
                return _malformed("an output lacks a name, a shape or a data list", body)
            if len(data) != math.prod(shape):
                return _malformed(f"output {name!r} has {len(data)} values for shape {shape}", body)
            values = _as_array(data) if tensor.get("datatype") != "BOOL" else _as_mask(data)
            tensors[name] = values.reshape(shape) if shape else values
        if not tensors:
            return _malformed("the answer has no outputs", body)
        if any(_PROBA_RE.match(name) for name in tensors) or "prediction" in tensors:
            columns = {name: list(t.reshape(-1)) for name, t in tensors.items() if t.ndim <= 2}
            return _from_columns(columns, body, n_rows)
        matrices = [t for t in tensors.values() if t.ndim == 2 and t.shape[1] > 1]
        vectors = [t.reshape(-1) for t in tensors.values() if t.ndim == 1 or t.shape[1:] == (1,)]
        if not (matrices or vectors):
            return _malformed("no output has shape [n] or [n, k]", body)
        outputs = (matrices or vectors)[0]
        if n_rows is not None and outputs.shape[0] != n_rows:
            return _malformed(f"{outputs.shape[0]} outputs for {n_rows} rows", body)
        if outputs.ndim == 2:
            try:
                outputs = outputs.astype(float)
            except (TypeError, ValueError):
                return _malformed("the [n, k] output holds non-numbers", body)
        return Reply(kind="answered", outputs=outputs)


def _malformed(problem: str, body: bytes) -> Reply:
    head = _body_text(body[:200])
    return Reply(kind="malformed", error=_cut(f"{problem}: {head!r}"))


def _from_columns(
    columns: Mapping[str, Sequence[Any]], body: bytes, n_rows: int | None = None
) -> Reply:
    """A Reply from a DataFrame answer given as columns (the guard's wire format)."""
    proba = sorted(
        ((int(m.group(1)), name) for name in columns if (m := _PROBA_RE.match(name))),
        key=lambda pair: pair[0],
    )
    if proba:
        try:
            outputs: np.ndarray[Any, Any] = np.column_stack(
                [
                    np.array([math.nan if v is None else v for v in columns[name]], dtype=float)
                    for _, name in proba
                ]
            )
        except (TypeError, ValueError):
            return _malformed("the proba_* columns hold non-numbers", body)
    elif "prediction" in columns:
        outputs = _as_array(columns["prediction"])
    elif len(columns) == 1:
        outputs = _as_array(next(iter(columns.values())))
    else:
        return _malformed(
            f"answer columns {sorted(columns)} name neither prediction nor proba_*", body
        )
    if n_rows is not None and len(outputs) != n_rows:
        return _malformed(f"{len(outputs)} outputs for {n_rows} rows", body)
    ids = _as_ids(columns["decision_id"]) if "decision_id" in columns else None
    mask = _as_mask(columns["safe_default"]) if "safe_default" in columns else None
    return Reply(
        kind="answered",
        outputs=outputs,
        decision_ids=ids,
        safe_default=mask,
        model_version=_first_text(columns.get("model_version")),
        model_digest=_first_text(columns.get("model_sha256")),
    )


def _first_text(values: Sequence[Any] | None) -> str | None:
    """The model a reply names (one model answers a whole request): its first value, as text."""
    if not values or values[0] is None or isinstance(values[0], dict | list):
        return None
    return str(values[0])
