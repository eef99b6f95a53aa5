"""Types and small helpers shared by the modules of :mod:`prodready.explain`."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
ExplainerKind = Literal["tree", "linear", "permutation"]

# Boosted classifiers whose trees add up to the decision function (log-odds, softmax logits).
_BOOSTED_CLASSIFIERS = ("GradientBoostingClassifier", "HistGradientBoostingClassifier")
_XGBOOST_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor")
_LIGHTGBM_CLASSES = ("LGBMClassifier", "LGBMRegressor")


def _type_name(model: Any) -> str:
    return type(model).__name__


def _module(model: Any) -> str:
    return type(model).__module__ or ""


def _is_passthrough(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _is_not_fitted(exc: BaseException) -> bool:
    # scikit-learn's NotFittedError, matched by name to keep sklearn out of the import path.
    return type(exc).__name__ == "NotFittedError"


def _as_estimator_input(estimator: Any, matrix: FloatArray) -> Any:
    """The array as the estimator was fitted: a DataFrame with its feature names if it has them.

    Needed because estimators fitted on DataFrames warn (or fail) on bare arrays.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return matrix
    return pd.DataFrame(matrix, columns=list(names))
