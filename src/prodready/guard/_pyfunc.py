"""The MLflow pyfunc class of a guarded model (imports mlflow: load it only when needed)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc.model import PythonModel

from prodready._exceptions import ModelLoadError
from prodready.guard._guard import Guard, InputRejected
from prodready.guard._mlflow import DECISION_LOG_ENV, GUARD_CONFIG_VERSION, decisions_frame
from prodready.guard._schema import InputSchema
from prodready.system import sha256_file

__all__ = ["GuardedModel", "load_skops"]

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

    ``predict`` answers a DataFrame (see :func:`prodready.guard.decisions_frame`); a rejected
    request raises ``MlflowException`` with ``INVALID_PARAMETER_VALUE`` (HTTP 400) whose
    message names row, column and rule and whose JSON body has the violations.
    """

    guard: Guard | None = None

    def load_context(self, context: Any) -> None:
        artifacts = context.artifacts
        config = json.loads(Path(artifacts["guard"]).read_text(encoding="utf-8"))
        if config.get("version") != GUARD_CONFIG_VERSION:
            raise ModelLoadError(f"guard.json version {config.get('version')!r} is not supported")
        model_file = Path(artifacts["model"])
        model = load_skops(model_file, config.get("trusted") or [])
        log = os.environ.get(DECISION_LOG_ENV) or config.get("decision_log")
        self.guard = Guard(
            model,
            InputSchema.load(artifacts["schema"]),
            on_invalid=config["on_invalid"],
            safe_default=config.get("safe_default"),
            decision_log=log or None,
            model_version=config.get("model_version", ""),
            # The artifact is the saved .skops file, copied byte for byte by MLflow.
            model_sha256=sha256_file(model_file),
        )

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        guard = self.guard
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
        return decisions_frame(decisions, classes)
