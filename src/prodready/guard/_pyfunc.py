"""The MLflow pyfunc class of a guarded model (imports mlflow: load it only when needed)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel

from prodready._exceptions import ModelLoadError
from prodready.guard._guard import Guard, InputRejected
from prodready.guard._mlflow import (
    DECISION_LOG_ENV,
    GUARD_CONFIG_VERSION,
    REGISTRY_URI_ENV,
    decisions_frame,
)
from prodready.guard._schema import InputSchema
from prodready.system import sha256_file

__all__ = ["GuardedModel", "load_skops"]

_logger = logging.getLogger("prodready.guard")

#: Violations sent in a 400 answer's ``violations`` field (the count is always complete).
_BODY_VIOLATIONS = 100


def load_skops(path: Path, trusted: Sequence[str]) -> Any:
    """Load a ``.skops`` model, trusting skops' defaults plus the ``trusted`` types only."""
    import skops.io as sio

    untrusted = [name for name in sio.get_untrusted_types(file=path) if name not in trusted]
    if untrusted:
        raise ModelLoadError(
            f"{path.name} contains types skops does not trust by default: {untrusted}; "
            "review them and pass them as trusted"
        )
    return sio.load(path, trusted=list(trusted) or None)


class GuardedModel(PythonModel):  # type: ignore[misc]
    """A :class:`~prodready.guard.Guard` around a skops model, as an MLflow pyfunc model.

    ``predict`` answers a DataFrame (see :func:`prodready.guard.decisions_frame`), with the
    ``model_version`` and ``model_sha256`` of the model that answered; a rejected request
    raises ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) whose message
    names row, column and rule and whose JSON body has the violations.

    Saved with ``follow`` (:class:`~prodready.guard.RegistryAlias`), it serves the registry
    version the alias points to and follows the alias (:class:`_AliasFollower`): each
    request is answered by one guard, read once, so a swap never splits a request.
    """

    guard: Guard | None = None
    follower: _AliasFollower | None = None

    def load_context(self, context: Any) -> None:
        artifacts = {key: Path(value) for key, value in context.artifacts.items()}
        config = _read_config(artifacts["guard"])
        log = os.environ.get(DECISION_LOG_ENV) or config.get("decision_log") or None
        self.guard = _build_guard(artifacts, config, log, str(config.get("model_version", "")))
        follow = config.get("follow")
        uri = os.environ.get(REGISTRY_URI_ENV) or os.environ.get("MLFLOW_TRACKING_URI")
        if isinstance(follow, dict):
            if not uri:
                _logger.warning(
                    "prodready guard: not following %s@%s: neither %s nor MLFLOW_TRACKING_URI "
                    "names the registry",
                    follow.get("model_name"),
                    follow.get("alias"),
                    REGISTRY_URI_ENV,
                )
                return
            self.follower = _AliasFollower(self, uri, follow, log)
            self.follower.start()

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        guard = self.guard  # read once: a swap by the follower never splits a request
        if guard is None:  # pragma: no cover - MLflow calls load_context first
            raise MlflowException("the guarded model was not loaded")
        if not isinstance(model_input, pd.DataFrame):
            try:
                model_input = pd.DataFrame(model_input)
            except Exception as exc:
                raise MlflowException(
                    f"input rejected: expected a table of feature columns, not "
                    f"{type(model_input).__name__} ({exc})",
                    error_code=INVALID_PARAMETER_VALUE,
                ) from None
        try:
            decisions = guard.decide(model_input)
        except InputRejected as exc:
            raise MlflowException(
                str(exc),
                error_code=INVALID_PARAMETER_VALUE,
                violations=[v.to_dict() for v in exc.violations[:_BODY_VIOLATIONS]],
                violation_count=len(exc.violations),
            ) from None
        classes = guard.classes_.tolist() if hasattr(guard, "predict_proba") else None
        return decisions_frame(
            decisions,
            classes,
            model_version=guard.model_version or None,
            model_sha256=guard.model_sha256 or None,
        )


def _read_config(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if config.get("version") != GUARD_CONFIG_VERSION:
        raise ModelLoadError(f"guard.json version {config.get('version')!r} is not supported")
    return config


def _build_guard(
    artifacts: dict[str, Path], config: dict[str, Any], log: str | None, version: str
) -> Guard:
    """The guard of one model folder's artifacts (``guard``, ``model``, ``schema`` files)."""
    model_file = artifacts["model"]
    model = load_skops(model_file, config.get("trusted") or [])
    return Guard(
        model,
        InputSchema.load(artifacts["schema"]),
        on_invalid=config["on_invalid"],
        safe_default=config.get("safe_default"),
        decision_log=log,
        model_version=version,
        # The artifact is the saved .skops file, copied byte for byte by MLflow.
        model_sha256=sha256_file(model_file),
    )


def _folder_artifacts(folder: Path) -> dict[str, Path]:
    """The pyfunc artifacts of a downloaded MLflow model folder, by name."""
    import yaml

    spec = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    artifacts = (spec.get("flavors") or {}).get("python_function", {}).get("artifacts") or {}
    found = {str(key): folder / str(entry.get("path", "")) for key, entry in artifacts.items()}
    missing = {"guard", "model", "schema"} - found.keys()
    if missing:
        raise ModelLoadError(f"{folder} is not a prodready guarded model (no {sorted(missing)})")
    return found


class _AliasFollower:
    """Serve the registry version an alias points to; swap models when the alias moves.

    A daemon thread asks the registry every ``poll_s`` seconds where the alias points (one
    read of the registry). When it moved, the thread downloads that version, builds its
    guard (same decision log) and assigns it to the model's ``guard`` attribute: requests
    in flight finish on the guard they read, later ones get the new one, none fails. A
    version that cannot be loaded is logged and skipped until the alias moves again; the
    running model keeps answering. The served ``model_version`` is the registry version.
    """

    def __init__(
        self, model: GuardedModel, uri: str, follow: dict[str, Any], log: str | None
    ) -> None:
        from prodready.adapters.registry import MLflowRegistry

        self.model = model
        # A fresh database connection for every look at the registry. A restored sqlite
        # registry gets its old bytes back, change counter included; a pooled connection
        # could then take a later state with the same counter for one it has cached and
        # read stale pages. No pool, no cache (a connection costs about a millisecond).
        os.environ.setdefault("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
        self.registry = MLflowRegistry(uri)
        self.registry.close()  # drop an engine made with a pool before the setting
        self.name = str(follow["model_name"])
        self.alias = str(follow.get("alias", "champion"))
        self.poll_s = max(0.01, float(follow.get("poll_s", 0.2)))
        self.log = log
        # Versions by (number, registration time): after a registry restore, a number can come
        # back for another model.
        self.current: tuple[str, float] | None = None
        self.failed: tuple[str, float] | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"prodready-follow-{self.alias}", daemon=True
        )

    def start(self) -> None:
        """Name the loaded version (loading the alias's target if it moved meanwhile); poll."""
        target = self._target()
        guard = self.model.guard
        if target is not None and guard is not None:
            version = self.registry.version(self.name, target[0])
            if version.digest == guard.model_sha256:
                guard.model_version = target[0]
                self.current = target
            else:
                self._swap(target)
        self.thread.start()

    def _target(self) -> tuple[str, float] | None:
        """The version the alias points to now, with its registration time (None: unset)."""
        number = self.registry.alias(self.name, self.alias)
        if number is None:
            return None
        return number, self.registry.version(self.name, number).created

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(self.poll_s):
            try:
                target = self._target()
            except Exception as exc:  # a registry hiccup: keep serving, ask again
                _logger.warning("prodready guard: reading %s@%s: %s", self.name, self.alias, exc)
                continue
            if target == self.current:
                self.failed = None  # the alias came back: a failed version may be retried
                continue
            if target is None or target == self.failed:
                continue
            self._swap(target)

    def _swap(self, target: tuple[str, float]) -> None:
        version = target[0]
        try:
            with tempfile.TemporaryDirectory(prefix="prodready-follow-") as scratch:
                folder = self.registry.download(self.name, version, Path(scratch) / "model")
                artifacts = _folder_artifacts(folder)
                guard = _build_guard(artifacts, _read_config(artifacts["guard"]), self.log, version)
        except Exception as exc:
            self.failed = target
            _logger.error(
                "prodready guard: %s version %s (alias %s) cannot be served, keeping version "
                "%s: %s",
                self.name,
                version,
                self.alias,
                self.current[0] if self.current else None,
                exc,
            )
            return
        self.model.guard = guard  # one assignment: atomic for the request threads
        self.current = target
        self.failed = None
        _logger.warning(
            "prodready guard: now serving %s version %s (alias %s, sha256 %s)",
            self.name,
            version,
            self.alias,
            guard.model_sha256,
        )
