"""Which model output an explanation explains, in which units, computed from the model itself.

The units of the explained output depend on the model (``Explanation.output_names`` says which):
log-odds (softmax logits with more than two classes) for gradient boosting and logistic
regression classifiers, probabilities for random forests, decision trees and the permutation
explainer on classifiers, the prediction for regressors (its log for HistGradientBoosting with a
Poisson or Gamma loss). :meth:`Explanation.additivity_error` checks local accuracy against the
model's own output, computed here from the model, not taken from shap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from prodready._exceptions import UsageError
from prodready.explain._common import (
    _BOOSTED_CLASSIFIERS,
    _LIGHTGBM_CLASSES,
    _XGBOOST_CLASSES,
    ExplainerKind,
    FloatArray,
    _is_not_fitted,
    _type_name,
)

# Losses of HistGradientBoostingRegressor whose raw score is log(prediction).
_LOG_LINK_LOSSES = ("poisson", "gamma")


def _class_label(value: Any) -> str:
    """``1`` for the integer 1, ``'b'`` for the string b (numpy scalars as Python values)."""
    item = value.item() if isinstance(value, np.generic) else value
    return repr(item)


def _classes(final: Any, n: int) -> list[str]:
    classes = getattr(final, "classes_", None)
    if classes is None or isinstance(classes, list) or len(classes) != n:
        return [str(k) for k in range(n)]
    return [_class_label(c) for c in classes]


def _is_log_odds_classifier(final: Any) -> bool:
    """Whether the classifier's decision function is a logit (log-odds / softmax logit)."""
    name = _type_name(final)
    if name in ("LogisticRegression", "LogisticRegressionCV"):
        return True
    if name == "SGDClassifier":
        return getattr(final, "loss", "") == "log_loss"
    if name in _BOOSTED_CLASSIFIERS:
        return getattr(final, "loss", "log_loss") == "log_loss"
    return name in _XGBOOST_CLASSES + _LIGHTGBM_CLASSES


def _score_names(final: Any, n_outputs: int) -> list[str]:
    """Names of a classifier's raw scores: one for a binary model (class 1), else one per class."""
    n_classes = len(getattr(final, "classes_", [])) or n_outputs
    labels = _classes(final, n_classes)
    logit = _is_log_odds_classifier(final)
    if n_outputs == 1:
        unit = "log-odds" if logit else "decision score"
        return [f"{unit} of class {labels[-1]}"]
    unit = "softmax logit" if logit else "decision score"
    return [f"{unit} of class {label}" for label in labels[:n_outputs]]


def _prediction_names(n_outputs: int, unit: str = "prediction") -> list[str]:
    if n_outputs == 1:
        return [unit]
    return [f"{unit} of target {k}" for k in range(n_outputs)]


def _as_2d(output: Any) -> FloatArray:
    if isinstance(output, list):
        raise UsageError(
            "multi-output classifiers (a list of probability arrays) are not supported"
        )
    array = np.asarray(output, dtype=np.float64)
    return array.reshape(len(array), -1)


OutputFn = Callable[[Any, Any], FloatArray]


def _model_outputs(
    model: Any, final: Any, kind: ExplainerKind, x_in: Any
) -> tuple[FloatArray, list[str], OutputFn]:
    """The model's output on ``x_in`` in the units the explainer explains, their names, and the
    function computing them from an estimator and its input (the permutation explainer's model).
    """
    name = _type_name(final)
    output_of: OutputFn
    classifier = hasattr(final, "classes_")
    if kind == "tree" and name in _XGBOOST_CLASSES:

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.predict(data, output_margin=True))

        unit = "raw score (margin)"
    elif kind == "tree" and name in _LIGHTGBM_CLASSES:

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.predict(data, raw_score=True))

        unit = "raw score"
    elif kind == "tree" and name in _BOOSTED_CLASSIFIERS:

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.decision_function(data))

        unit = ""
    elif kind == "tree" and classifier:

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.predict_proba(data))

        unit = "probability"
    elif kind == "tree" and getattr(final, "loss", None) in _LOG_LINK_LOSSES:
        # HistGradientBoostingRegressor(loss="poisson"/"gamma"): the trees add up to the log.
        def output_of(est: Any, data: Any) -> FloatArray:
            return np.log(_as_2d(est.predict(data)))

        unit = "log of prediction"
    elif kind == "linear" and classifier:

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.decision_function(data))

        unit = ""
    elif classifier and callable(getattr(final, "predict_proba", None)):

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.predict_proba(data))

        unit = "probability"
    elif classifier and callable(getattr(final, "decision_function", None)):

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.decision_function(data))

        unit = ""
    else:

        def output_of(est: Any, data: Any) -> FloatArray:
            return _as_2d(est.predict(data))

        unit = "prediction"

    try:
        output = output_of(model, x_in)
    except ValueError as exc:
        if _is_not_fitted(exc):
            raise
        raise UsageError(f"the model cannot compute its output on X: {exc}") from exc
    n_outputs = output.shape[1]
    if unit == "probability":
        names = [f"probability of class {c}" for c in _classes(final, n_outputs)]
    elif unit == "" or (classifier and unit.startswith("raw score")):
        names = _score_names(final, n_outputs)
    else:
        names = _prediction_names(n_outputs, unit)
    return output, names, output_of
