"""The nudged candidate of a model that is not a :mod:`prodready.guard` pyfunc (needs MLflow).

:class:`NudgedModel` is an MLflow pyfunc that loads the original MLflow model (copied as its
artifact ``original``) and nudges what it answers (:func:`._candidate.nudge`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.pyfunc.model import PythonModel

from prodready._env import environ_set
from prodready.probes.rollback._candidate import nudge

__all__ = ["NudgedModel", "save_nudged_pyfunc"]


class NudgedModel(PythonModel):  # type: ignore[misc]
    """An MLflow pyfunc: the model in the artifact ``original``, its answers nudged by ``e``."""

    def __init__(self, e: float) -> None:
        self.e = e
        self._model: Any = None

    def load_context(self, context: Any) -> None:
        self._model = mlflow.pyfunc.load_model(context.artifacts["original"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return nudge(self._model.predict(model_input), self.e)


def save_nudged_pyfunc(original: Path, target: Path, e: float) -> Path:
    """Save :class:`NudgedModel` around the MLflow model ``original`` as the folder ``target``."""
    from mlflow.models import Model

    # The original's own requirements and signature: MLflow would otherwise infer the
    # requirements by loading the model in a subprocess (tens of seconds on a busy machine),
    # and the server would no longer check inputs the way it checked the original's.
    requirements = original / "requirements.txt"
    signature = Model.load(str(original / "MLmodel")).signature
    with environ_set("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"):
        mlflow.pyfunc.save_model(
            str(target),
            python_model=NudgedModel(e),
            artifacts={"original": str(original)},
            pip_requirements=str(requirements) if requirements.is_file() else [],
            signature=signature,
        )
    return target
