"""A guarded model as an MLflow pyfunc model directory, servable by ``mlflow models serve``.

:func:`save_mlflow` writes an MLflow model whose artifacts are the ``.skops`` model file (copied
byte for byte, so the logged ``model_sha256`` is the original file's sha256), the input schema
(``schema.json``) and the guard's settings (``guard.json``). The pyfunc class
(:class:`prodready.guard._pyfunc.GuardedModel`) is stored as MLflow's "model from code": a
short Python file that imports it (no pickle, so nothing opaque runs at load time). The server
must therefore be able to import prodready: serve with ``--env-manager local`` from an
environment that has it (prodready's own server helper does). No ``code_paths`` copy of
prodready is made: a copy would go stale and could not match the installed dependencies.

The model is saved **without a signature** on purpose. With one, MLflow's scoring server
enforces it before the model sees the request: it converts types (an int column becomes
float, a string ``"5"`` may become a number) and rejects a missing column with its own message,
which names neither the row nor the rule. Without a signature the server only builds a
DataFrame from the JSON (``pandas.DataFrame(columns=..., data=...)``) and the guard checks
exactly what arrived, with its own rules and messages.

What the scoring server answers (MLflow 3.17, checked in its source and by the tests):

- valid rows: HTTP 200, ``{"predictions": [{"decision_id": ..., "safe_default": false,
  "prediction": 1, "proba_0": 0.8, "proba_1": 0.2}, ...]}`` (see :func:`decisions_frame`);
- a rejected request: HTTP 400 with ``{"error_code": "INVALID_PARAMETER_VALUE", "message":
  "Failed to predict data '<the frame>'. \\nError: input rejected: ...", "violations":
  [...], "violation_count": n}``: the server prefixes the message, the extra fields are the
  guard's structured violations;
- any other exception in the model: HTTP 400 too (not 500), ``"error_code": "BAD_REQUEST"``,
  ``"message": "Encountered an unexpected error while evaluating the model..."`` and a
  ``"stack_trace"``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from prodready._exceptions import MissingDependencyError, UsageError
from prodready.guard._digest import canonical_value
from prodready.guard._guard import Decisions, Guard, OnInvalid
from prodready.guard._schema import InputSchema

__all__ = [
    "DECISION_LOG_ENV",
    "GUARD_CONFIG_VERSION",
    "REGISTRY_URI_ENV",
    "RegistryAlias",
    "decisions_frame",
    "save_mlflow",
]

#: The environment variable that sets the served model's decision log (overrides the saved one).
DECISION_LOG_ENV: Final = "PRODREADY_DECISION_LOG"
#: The registry a guard that follows an alias reads (else ``MLFLOW_TRACKING_URI``).
REGISTRY_URI_ENV: Final = "PRODREADY_REGISTRY_URI"
#: Version of ``guard.json`` in the model directory.
GUARD_CONFIG_VERSION: Final = 1


# The model file MLflow keeps in the model directory (code/guarded_model.py).
_MODEL_CODE = '''"""A prodready guarded model (see prodready.guard.save_mlflow)."""

import mlflow.models

from prodready.guard._pyfunc import GuardedModel

mlflow.models.set_model(GuardedModel())
'''


@dataclass(frozen=True)
class RegistryAlias:
    """A registry alias the served guard follows (``save_mlflow(..., follow=...)``).

    Served from ``models:/<model_name>@<alias>`` with the registry's URI in
    ``MLFLOW_TRACKING_URI`` (or ``PRODREADY_REGISTRY_URI``), the model checks every
    ``poll_s`` seconds where the alias points; when it moves, a background thread loads that
    version and swaps it in between two requests, so that no request fails. Every answer
    and decision-log line then names the registry version that answered and its digest.
    """

    model_name: str
    alias: str = "champion"
    poll_s: float = 0.2


def save_mlflow(
    path: str | os.PathLike[str],
    *,
    model_path: str | os.PathLike[str],
    schema: InputSchema,
    trusted: Sequence[str] = (),
    on_invalid: OnInvalid = "reject",
    safe_default: Any = None,
    decision_log: str | os.PathLike[str] | None = None,
    model_version: str = "",
    follow: RegistryAlias | None = None,
) -> Path:
    """Write an MLflow pyfunc model directory at ``path`` (must not exist); return it.

    Args:
        path: the model directory to create.
        model_path: the fitted model as a ``.skops`` file.
        schema: the input schema the guard checks (e.g. ``InputSchema.learn(reference, ...)``).
        trusted: types in the skops file that skops does not trust by default and that you
            reviewed (the example's tree predictor); the same list the spec's
            ``model.trusted`` holds.
        on_invalid, safe_default: as for :class:`~prodready.guard.Guard`.
        decision_log: the decision-log file the served model appends to; relative paths are
            taken from the server's working directory. At serve time the environment
            variable ``PRODREADY_DECISION_LOG`` overrides it; with neither, no log is kept.
        model_version: the version string written into every decision-log line.
        follow: serve whatever version this registry alias points to, swapping models
            without downtime when it moves (see :class:`RegistryAlias`, docs/registry.md).

    The model is loaded once here, so a wrong trusted list, a schema that does not fit the
    model or an invalid safe default fail now, not in the server.
    """
    try:
        import mlflow.pyfunc
    except ImportError:
        raise MissingDependencyError(
            "mlflow", "mlflow", "saving a guarded model for MLflow"
        ) from None
    from prodready.guard._pyfunc import load_skops

    model_file = Path(model_path)
    if not model_file.is_file():
        raise UsageError(f"the model file {str(model_file)!r} does not exist")
    target = Path(path)
    if target.exists():
        raise UsageError(f"{str(target)!r} already exists: MLflow saves into a new directory")
    model = load_skops(model_file, trusted)
    # Checks the schema against the model and the safe default against its classes.
    Guard(model, schema, on_invalid=on_invalid, safe_default=safe_default)
    config = {
        "version": GUARD_CONFIG_VERSION,
        "on_invalid": on_invalid,
        "safe_default": canonical_value(
            safe_default.tolist()
            if isinstance(safe_default, np.ndarray | np.generic)
            else safe_default
        ),
        "decision_log": os.fspath(decision_log) if decision_log is not None else None,
        "model_version": str(model_version),
        "trusted": list(trusted),
    }
    if follow is not None:
        config["follow"] = {
            "model_name": follow.model_name,
            "alias": follow.alias,
            "poll_s": follow.poll_s,
        }
    with tempfile.TemporaryDirectory(prefix="prodready-guard-") as scratch:
        schema_file = schema.save(Path(scratch) / "schema.json")
        config_file = Path(scratch) / "guard.json"
        config_file.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        code_file = Path(scratch) / "guarded_model.py"
        code_file.write_text(_MODEL_CODE, encoding="utf-8")
        # MLflow warns that it cannot infer a signature: there is deliberately none.
        quiet = logging.getLogger("mlflow.pyfunc")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            mlflow.pyfunc.save_model(
                path=os.fspath(target),
                # "Models from code": MLflow stores this short file, not a pickle of the
                # object, and runs it at load time (it imports the class from prodready).
                python_model=os.fspath(code_file),
                artifacts={
                    "model": os.fspath(model_file),
                    "schema": os.fspath(schema_file),
                    "guard": os.fspath(config_file),
                },
                # Given, not inferred: inferring loads the model in a subprocess (seconds).
                # Served with --env-manager local, these are not installed anyway.
                pip_requirements=_requirements(),
            )
        finally:
            quiet.setLevel(level)
    return target


def decisions_frame(
    decisions: Decisions,
    classes: Sequence[Any] | None,
    *,
    model_version: str | None = None,
    model_sha256: str | None = None,
) -> pd.DataFrame:
    """The served answer: ``decision_id``, ``safe_default``, ``prediction``, ``proba_i``...

    One row per decision; ``proba_0 .. proba_{k-1}`` (in ``classes`` order) for a classifier
    (``classes`` given), none for a regressor; then ``model_version`` and ``model_sha256``
    (which model answered) when given.
    """
    columns: dict[str, Any] = {
        "decision_id": list(decisions.decision_ids),
        "safe_default": decisions.safe_default.astype(bool),
        "prediction": decisions.predictions,
    }
    if classes is not None:
        outputs = decisions.outputs.reshape(len(decisions), len(classes))
        for index in range(len(classes)):
            columns[f"proba_{index}"] = outputs[:, index]
    if model_version is not None:
        columns["model_version"] = [model_version] * len(decisions)
    if model_sha256 is not None:
        columns["model_sha256"] = [model_sha256] * len(decisions)
    return pd.DataFrame(columns)


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in ("numpy", "pandas", "scikit-learn", "skops"):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:  # pragma: no cover - all are dependencies of prodready
            pins.append(name)
    return [*pins, "prodready"]
