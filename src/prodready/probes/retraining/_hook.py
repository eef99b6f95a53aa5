"""The retrain hook's contract (:class:`RetrainRequest` in, :class:`RetrainResult` out) and
loading the model it produced.

The contract is vendor-neutral and documented in ``docs/retraining.md``: the hook gets the
labelled training data and where to register the new model, and names what it produced:
a registry version (the model then loads from the registry, as production would deploy it)
or the fitted model itself (a system without a registry). A hook needs nothing from
prodready: the request is read by attribute, the result may be a plain dict.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from prodready._env import environ_set

__all__ = ["RetrainRequest", "RetrainResult", "load_version", "read_result"]


@dataclass(frozen=True)
class RetrainRequest:
    """What the retrain hook is called with: ``retrain(request)``.

    - ``data``: the labelled training data (the feature columns and the target), newest
      production data whose labels came in; the hook may add its own history to it;
    - ``target``, ``features``, ``categorical``, ``task`` ("binary", "multiclass",
      "regression"): the spec's description of the data;
    - ``reason``: why retraining was triggered, in words (the metric that crossed the
      threshold, on how many decisions);
    - ``registry_uri``, ``model_name``: the spec's registry (None without one): where to
      register the new model;
    - ``candidate_alias``: the alias the new version must carry (it awaits approval);
      ``serving_alias``: the alias production serves, which the hook must not move;
    - ``seed``: for a reproducible fit; ``workdir``: an empty folder the hook may write to,
      deleted after the call.
    """

    data: pd.DataFrame
    target: str
    features: list[str]
    categorical: list[str]
    task: str
    reason: str
    registry_uri: str | None
    model_name: str | None
    candidate_alias: str
    serving_alias: str
    seed: int
    workdir: Path


@dataclass(frozen=True)
class RetrainResult:
    """What the retrain hook returns: the new registry ``version``, or the fitted ``model``.

    A plain mapping with the same keys (``{"version": "2"}``) or a bare version string are
    accepted too; ``notes`` is shown in the report.
    """

    version: str | None = None
    model: Any = None
    notes: str = ""


def read_result(answer: Any) -> RetrainResult | str:
    """The hook's answer as a :class:`RetrainResult`, or what is wrong with it in words."""
    try:
        return _read_result(answer)
    except Exception as exc:  # an object whose attributes raise: the hook's answer is broken
        return (
            f"returned a {type(answer).__name__} that cannot be read "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        )


def _read_result(answer: Any) -> RetrainResult | str:
    if isinstance(answer, RetrainResult):
        result = answer
    elif answer is None:
        return "returned nothing (None)"
    elif isinstance(answer, str | int) and not isinstance(answer, bool):
        result = RetrainResult(version=str(answer))
    elif isinstance(answer, Mapping):
        unknown = sorted(str(k) for k in answer if k not in ("version", "model", "notes"))
        if unknown:
            return f"returned a mapping with unknown keys {unknown[:5]} (expected version, model)"
        result = RetrainResult(answer.get("version"), answer.get("model"), answer.get("notes", ""))
    elif hasattr(answer, "predict"):
        result = RetrainResult(model=answer)
    elif hasattr(answer, "version") or hasattr(answer, "model"):
        result = RetrainResult(getattr(answer, "version", None), getattr(answer, "model", None))
    else:
        return f"returned a {type(answer).__name__} (expected a version or a fitted model)"
    version = None if result.version is None else str(result.version)
    if result.model is not None and not hasattr(result.model, "predict"):
        return f"returned as model a {type(result.model).__name__}, which has no predict method"
    if version is None and result.model is None:
        return "returned neither a registry version nor a model"
    return RetrainResult(version, result.model, str(result.notes or ""))


def load_version(folder: Path, scratch: Path) -> Any:
    """Load the MLflow model in ``folder`` to call in-process.

    A model with the scikit-learn flavor loads as the estimator (``predict_proba``
    available); any other as an MLflow pyfunc. A :mod:`prodready.guard` model logs each
    decision: while prodready scores it, its decision log is a file in ``scratch``, never
    the production log named in the model; and it does not follow a registry alias (it
    would swap the served version in).
    """
    import mlflow.pyfunc

    spec = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    flavors = spec.get("flavors") or {}
    if "sklearn" in flavors:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(os.fspath(folder))
    from prodready.guard._mlflow import DECISION_LOG_ENV, REGISTRY_URI_ENV

    with (
        environ_set(DECISION_LOG_ENV, os.fspath(scratch / "rehearsal-decisions.jsonl")),
        # No registry named: a guard saved to follow the served alias must not swap the
        # served version in while prodready scores the candidate.
        _environ_unset(REGISTRY_URI_ENV, "MLFLOW_TRACKING_URI"),
        _quiet("prodready.guard"),
    ):
        return mlflow.pyfunc.load_model(os.fspath(folder))


@contextlib.contextmanager
def _environ_unset(*names: str) -> Iterator[None]:
    """Remove ``names`` from the environment inside the block; put them back after."""
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only errors from ``logger`` inside the block (its "not following" note is expected)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
