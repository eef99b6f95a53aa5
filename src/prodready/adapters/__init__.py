"""The outside world: how probes reach the system's model (in-process or over HTTP).

:func:`connect` builds the :class:`Client` a System's spec asks for; :func:`serve_mlflow`
runs ``mlflow models serve`` for the length of a ``with`` block. See
:mod:`prodready.adapters._base` for the interface and what a :class:`Reply` means.
"""

from __future__ import annotations

from typing import Any

import httpx

from prodready._exceptions import UsageError
from prodready.adapters._base import Client, Reply, ReplyKind
from prodready.adapters._http import HTTPClient, MLflowClient, V2Client
from prodready.adapters._inprocess import InProcessClient
from prodready.adapters.registry import (
    MLflowRegistry,
    ModelRegistry,
    ModelVersion,
    NoRegistryError,
    RegistryError,
    RegistrySnapshot,
    model_digest,
    open_registry,
    registry_fingerprint,
)
from prodready.adapters.serve import ServedModel, ServeError, serve_mlflow

__all__ = [
    "Client",
    "HTTPClient",
    "InProcessClient",
    "MLflowClient",
    "MLflowRegistry",
    "ModelRegistry",
    "ModelVersion",
    "NoRegistryError",
    "RegistryError",
    "RegistrySnapshot",
    "Reply",
    "ReplyKind",
    "ServeError",
    "ServedModel",
    "V2Client",
    "connect",
    "model_digest",
    "open_registry",
    "registry_fingerprint",
    "serve_mlflow",
]


def connect(system: Any, *, transport: httpx.BaseTransport | None = None) -> Client:
    """The client for ``system``: its HTTP endpoint when the spec names one, else in-process.

    - ``system.endpoint`` with a ``url``: :class:`MLflowClient` (``protocol`` "mlflow") or
      :class:`V2Client` ("v2", at ``/v2/models/{model_name}/infer``), with the endpoint's
      ``timeout_s``. ``transport`` replaces the network (tests: ``httpx.MockTransport``).
    - no endpoint: :class:`InProcessClient` around ``system.model`` (a guard's ``decide``
      when it has one), fed ``system.feature_columns``, asked for probabilities when
      ``system.is_classifier``.

    An ``endpoint.serve`` model is started by the run (:func:`serve_mlflow`), which fills in
    the URL; connecting before that is a :class:`~prodready.UsageError`. Close the client
    (or use it as a context manager) to release its connections.
    """
    endpoint = getattr(system, "endpoint", None)
    if endpoint is None:
        return InProcessClient(
            system.model,
            getattr(system, "feature_columns", None),
            is_classifier=bool(getattr(system, "is_classifier", True)),
        )
    url = getattr(endpoint, "url", None)
    if not url:
        serve = getattr(endpoint, "serve", None)
        raise UsageError(
            f"endpoint.serve ({serve}) is not running yet: serve it with "
            "prodready.adapters.serve_mlflow and connect to a System whose endpoint.url is "
            "the served URL"
            if serve
            else "the endpoint has no url to connect to"
        )
    protocol = getattr(endpoint, "protocol", "mlflow")
    timeout_s = float(getattr(endpoint, "timeout_s", 5.0))
    if protocol == "mlflow":
        return MLflowClient(url, timeout_s=timeout_s, transport=transport)
    if protocol == "v2":
        return V2Client(
            url,
            getattr(endpoint, "model_name", None) or "",
            outputs=tuple(getattr(endpoint, "outputs", None) or ()),
            timeout_s=timeout_s,
            transport=transport,
        )
    raise UsageError(f"endpoint.protocol is {protocol!r}; expected mlflow or v2")
