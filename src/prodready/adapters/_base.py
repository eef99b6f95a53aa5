"""The endpoint interface: how a probe sends decisions to the system under assessment.

A probe never calls ``system.model`` or an HTTP server directly when it needs the *served*
behaviour of the system (load, bad input, the decision trace): it asks
:func:`prodready.adapters.connect` for a :class:`Client` and sends frames through it. Three
clients implement the interface: in-process (the loaded model, or a
:class:`prodready.guard.Guard` around it), MLflow's scoring protocol (``POST /invocations``,
``GET /ping``) and the Open Inference Protocol v2 (``POST /v2/models/{name}/infer``).

Every call returns a :class:`Reply` and never raises for what the *system* does (an
exception in the model, an HTTP 500, a dropped connection, a time-out): those are findings
about the system, classified in :attr:`Reply.kind`. Only prodready's own mistakes raise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

__all__ = ["Client", "Reply", "ReplyKind"]

#: What the system did with one request:
#:
#: - ``answered``: it returned one output per row (some may be declared safe defaults);
#: - ``rejected``: it refused the input with a clear error (HTTP 4xx, or in-process a
#:   :class:`prodready.guard.InputRejected`);
#: - ``crashed``: an exception from the model, an HTTP 5xx, or any other status;
#: - ``malformed``: a success status whose body is not a prediction response (or has a
#:   different number of outputs than rows sent);
#: - ``timeout``: no answer within the client's time limit;
#: - ``dropped``: the connection failed or was closed before an answer.
ReplyKind = Literal["answered", "rejected", "crashed", "malformed", "timeout", "dropped"]


@dataclass(frozen=True)
class Reply:
    """The system's answer to one request, as data.

    ``outputs`` (when answered) holds one row per input row: class probabilities in the
    order of the model's ``classes_`` (shape ``(n, k)``) for a classifier served with
    probabilities, else the predictions (shape ``(n,)``). ``decision_ids`` are the ids the
    system gave each decision (None when it gives none: no decision log). ``safe_default``
    marks rows the system answered with a declared safe default instead of the model's
    output (None when the system declares none). ``status`` is the HTTP status (None
    in-process). ``error`` is the system's own error text, cut to 500 characters: the body
    of a 4xx/5xx, or the exception's type and message. ``seconds`` is the wall time of the
    call. ``model_version`` and ``model_digest`` say which model answered, when the system
    says so (a served guard answers them in its ``model_version`` and ``model_sha256``
    columns: the registry version and the sha256 of its model file); None otherwise.
    """

    kind: ReplyKind
    status: int | None = None
    outputs: np.ndarray[Any, Any] | None = None
    decision_ids: tuple[str | None, ...] | None = None
    safe_default: np.ndarray[Any, Any] | None = None
    error: str = ""
    seconds: float = 0.0
    model_version: str | None = None
    model_digest: str | None = None

    @property
    def answered(self) -> bool:
        """True when the system answered every row (normally or with a safe default)."""
        return self.kind == "answered"

    def named_model(self) -> tuple[str | None, str | None]:
        """The (version, digest) of the model that answered, as text; None where the system
        did not say. A system may name them per row: the first row's counts."""
        return _first_text(self.model_version), _first_text(self.model_digest)


def _first_text(value: Any) -> str | None:
    if isinstance(value, list | tuple | np.ndarray):  # one per row: the first row's
        value = value[0] if len(value) else None
    return None if value is None or value == "" else str(value)


class Client(ABC):
    """A connection to the system's model, in-process or over HTTP.

    ``protocol`` names the protocol ("in-process", "mlflow", "v2"); :meth:`describe` says
    in words what is reached ("mlflow models serve at http://127.0.0.1:5123"). Clients are
    context managers; :meth:`close` releases connections.
    """

    protocol: ClassVar[str]

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> Reply:
        """Send ``frame`` (one row per decision, the feature columns) and return the reply."""

    def send(self, body: bytes, content_type: str = "application/json") -> Reply:
        """Send a raw request body to the prediction route (HTTP clients only).

        For payloads no frame can express (malformed JSON, wrong shapes). In-process
        clients raise :class:`NotImplementedError`: a probe then skips those cases.
        """
        raise NotImplementedError(f"{self.protocol} clients take frames only")

    def ping(self) -> bool:
        """True when the system says it is up (HTTP: the protocol's health route)."""
        return True

    @abstractmethod
    def describe(self) -> str:
        """What this client reaches, in words, for reports."""

    def close(self) -> None:  # noqa: B027 (optional hook: most in-process clients hold nothing)
        """Release connections (no-op in-process)."""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
