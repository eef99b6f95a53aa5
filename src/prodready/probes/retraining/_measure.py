"""Scoring a model on labelled rows with the trigger's metric (the serving model or a new one).

The serving model and the retrained one are called in-process. A new model comes as a fitted
estimator (a hook-only system returns it) or as an MLflow model loaded from the registry:
:class:`Scorer` gives both the same shape (class probabilities for a classifier, values for a
regressor), whatever the pyfunc answers (a probability matrix, a frame of ``proba_<i>``
columns like prodready's guard, or plain labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready.probes._base import ProbeContext
from prodready.probes._performance import metric_function
from prodready.probes._scoring import Method, Scoring, score_model

__all__ = ["Scored", "Scorer", "metric_value", "score"]


def metric_value(
    metric: str, task: str, classes: list[Any], y: npt.NDArray[Any], out: npt.NDArray[Any]
) -> float:
    """``metric`` of outputs ``out`` against labels ``y`` (NaN when undefined).

    ``out`` holds class probabilities in ``classes`` order for a classifier (a model that
    only gives labels: certain probabilities, see :class:`Scorer`), values for a regressor.
    """
    if len(y) == 0:
        return float("nan")
    if task == "regression":
        return metric_function("regression")(y, np.asarray(out, dtype=float))
    probabilities = np.asarray(out, dtype=float).reshape(len(out), -1)
    labels = np.asarray(classes, dtype=object)[np.argmax(probabilities, axis=1)]
    if metric == "roc_auc":
        return metric_function("binary", classes[1])(y, probabilities[:, 1])
    if metric == "accuracy":
        return float(np.mean(labels.astype(str) == np.asarray(y).astype(str)))
    return metric_function("multiclass")(np.asarray(y), labels)


class Scorer:
    """A model answering ``predict_proba`` (classifier) or ``predict`` (regressor) as arrays.

    Wraps what a retrain hook produced: an estimator is called as it is; an MLflow pyfunc's
    ``predict`` answer is turned into class probabilities in ``classes`` order (a
    ``proba_<i>`` frame, a probability matrix) or left as labels.
    """

    def __init__(self, model: Any, classes: list[Any], is_classifier: bool) -> None:
        self.model = model
        self.classes = classes
        self.is_classifier = is_classifier

    def predict_proba(self, frame: pd.DataFrame) -> npt.NDArray[Any]:
        proba = getattr(self.model, "predict_proba", None)
        if callable(proba):
            out = np.asarray(proba(frame))
            own = getattr(self.model, "classes_", None)
            if own is not None and list(own) != list(self.classes) and out.ndim == 2:
                # The new model may order its classes differently: put them in ours.
                index = {str(c): i for i, c in enumerate(own)}
                out = out[:, [index[str(c)] for c in self.classes]]
            return out
        return self._from_predict(self.model.predict(frame))

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[Any]:
        answer = self.model.predict(frame)
        if isinstance(answer, pd.DataFrame):
            column = "prediction" if "prediction" in answer.columns else answer.columns[0]
            return answer[column].to_numpy()
        return np.asarray(answer)

    def _from_predict(self, answer: Any) -> npt.NDArray[Any]:
        if isinstance(answer, pd.DataFrame):
            columns = [f"proba_{i}" for i in range(len(self.classes))]
            if all(c in answer.columns for c in columns):
                return answer[columns].to_numpy(dtype=float)
            column = "prediction" if "prediction" in answer.columns else answer.columns[0]
            return self._one_hot(answer[column].to_numpy())
        out = np.asarray(answer)
        if out.ndim == 2 and out.shape[1] == len(self.classes):
            return out
        return self._one_hot(out.reshape(len(out), -1)[:, 0])

    def _one_hot(self, labels: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Labels as certain probabilities (a label outside the classes: a row of zeros,
        which is no answer)."""
        index = {str(c): i for i, c in enumerate(self.classes)}
        out = np.zeros((len(labels), len(self.classes)))
        for row, label in enumerate(labels):
            column = index.get(str(label))
            if column is not None:
                out[row, column] = 1.0
        return out


@dataclass(frozen=True)
class Scored:
    """A model's metric on labelled rows: the ``value``, and how it scored them (``scoring``)."""

    value: float
    scoring: Scoring


def score(
    model: Any,
    frame: pd.DataFrame,
    target: pd.Series,
    *,
    features: list[str],
    metric: str,
    task: str,
    classes: list[Any],
    context: ProbeContext | None,
) -> Scored:
    """``metric`` of ``model`` on ``frame`` against ``target``, on the rows it could score.

    Rows the model raised on (or answered NaN for) are left out of the metric and counted in
    ``scoring``: a model that fails is the system failing, judged by the caller.
    """
    method: Method = "predict_proba" if task != "regression" else "predict"
    scoring = score_model(model, frame[features], method, context=context)
    y = target.to_numpy()[scoring.scored]
    return Scored(metric_value(metric, task, classes, y, scoring.outputs), scoring)
