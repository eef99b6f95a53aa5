"""The SHAP backends: which explainer explains the final estimator, and its computation.

:func:`_choose_explainer` picks the SHAP explainer by the type of the (final) estimator:

* trees and tree ensembles (scikit-learn decision trees, random forests, extra trees, gradient
  boosting, histogram gradient boosting; xgboost and lightgbm models if those are installed)
  get ``shap.TreeExplainer``: exact values, computed from the trees themselves
  ("tree path dependent": the baseline is the training data the trees saw, so ``background``
  is not used);
* linear models (``sklearn.linear_model``, ``LinearSVC``/``LinearSVR``) get
  ``shap.LinearExplainer``, exact, with a sample of ``background`` as the baseline;
* anything else gets the model-agnostic ``shap.PermutationExplainer`` on a seeded sample of at
  most ``max_background`` rows of ``background``. Its values are estimates (they depend on the
  seed) but local accuracy holds exactly all the same. It is slow: each row costs
  ``10 * (2 * n_encoded_columns + 1) * n_background`` model evaluations, and the first call in
  a process compiles shap's numba kernels (seconds). So are HistGradientBoosting models with
  native categorical splits, which shap's tree reader does not understand, and tree models
  shap cannot read at all (with a warning).

shap is imported on first use, with its warnings silenced.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from prodready.explain._common import (
    _LIGHTGBM_CLASSES,
    _XGBOOST_CLASSES,
    ExplainerKind,
    FloatArray,
    _as_estimator_input,
    _is_not_fitted,
    _module,
    _type_name,
)
from prodready.explain.outputs import OutputFn, _as_2d

_SKLEARN_TREE_CLASSES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
)


def _choose_explainer(final: Any) -> ExplainerKind:
    name, module = _type_name(final), _module(final)
    if module.startswith("sklearn.") and name in _SKLEARN_TREE_CLASSES:
        # shap reads only the numeric thresholds of HistGradientBoosting trees, not their
        # categorical (bitset) splits: such a model is explained model-agnostically.
        categorical = getattr(final, "is_categorical_", None)
        if categorical is not None and bool(np.any(categorical)):
            return "permutation"
        return "tree"
    if module.startswith("xgboost") and name in _XGBOOST_CLASSES:
        return "tree"
    if module.startswith("lightgbm") and name in _LIGHTGBM_CLASSES:
        return "tree"
    if _is_linear(final):
        return "linear"
    return "permutation"


def _is_linear(final: Any) -> bool:
    """Whether the estimator's raw output (decision function or prediction) is X @ coef + b."""
    module = _module(final)
    linear_module = module.startswith("sklearn.linear_model") or (
        module.startswith("sklearn.svm") and _type_name(final) in ("LinearSVC", "LinearSVR")
    )
    if not linear_module or not (hasattr(final, "coef_") and hasattr(final, "intercept_")):
        return False
    # Generalized linear models (Poisson, Gamma, Tweedie) predict through a link function.
    return not any(c.__name__ == "_GeneralizedLinearRegressor" for c in type(final).__mro__)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence shap's (and, through it, scikit-learn's) advisory warnings during a computation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _import_shap() -> Any:
    """shap, imported on first use (it takes ~2 s) without its import-time warnings."""
    with _quiet():
        import shap
    return shap


def _tree_or_none(kind: ExplainerKind, final: Any, z: FloatArray) -> tuple[Any, Any, ExplainerKind]:
    """TreeExplainer values and base values for a tree model, else ``None`` values.

    A tree model shap cannot read falls back to the permutation explainer (with a warning).
    """
    if kind != "tree":
        return None, None, kind
    _import_shap()  # a broken shap installation is an error, not a reason to fall back
    try:
        values, base = _tree_values(final, z)
    except Exception as exc:
        if _is_not_fitted(exc):
            raise
        warnings.warn(
            f"prodready.explain: shap's TreeExplainer cannot read this "
            f"{_type_name(final)} ({exc}); using the permutation explainer",
            RuntimeWarning,
            stacklevel=3,
        )
        return None, None, "permutation"
    return values, base, "tree"


def _tree_values(final: Any, z: FloatArray) -> tuple[Any, Any]:
    shap = _import_shap()

    if _type_name(final) == "GradientBoostingClassifier":
        return _gradient_boosting_classifier_values(final, z)
    with _quiet():
        explainer = shap.TreeExplainer(
            final, model_output="raw", feature_perturbation="tree_path_dependent"
        )
        # Local accuracy is checked by Explanation.additivity_error, against the model itself.
        values = explainer.shap_values(z, check_additivity=False)
    return values, explainer.expected_value


def _gradient_boosting_classifier_values(final: Any, z: FloatArray) -> tuple[Any, Any]:
    """TreeExplainer on each class's trees of a GradientBoostingClassifier.

    shap reads only binary GradientBoostingClassifiers with a log-odds prior; its trees are
    plain regression trees, one sequence per class, whose scaled sum plus a constant start
    value is the decision function. Each sequence is handed to shap as a generic tree model.
    """
    shap = _import_shap()

    init = getattr(final, "init_", None)
    if not (isinstance(init, str) and init == "zero") and _type_name(init) != "DummyClassifier":
        raise ValueError(f"an init estimator {_type_name(init)} has no constant start value")
    rate = float(final.learning_rate)
    first = z[:1]
    raw = _as_2d(final.decision_function(_as_estimator_input(final, first)))[0]
    values, base = [], []
    for k in range(final.estimators_.shape[1]):
        trees, tree_sum = [], 0.0
        for estimator in final.estimators_[:, k]:
            tree = estimator.tree_
            left, right = tree.children_left, tree.children_right
            go_left = getattr(tree, "missing_go_to_left", None)
            default = left if go_left is None else np.where(go_left.astype(bool), left, right)
            trees.append(
                {
                    "children_left": left,
                    "children_right": right,
                    "children_default": default,
                    "features": tree.feature,
                    "thresholds": tree.threshold,
                    "values": tree.value[:, 0, :] * rate,
                    "node_sample_weight": tree.weighted_n_node_samples,
                }
            )
            tree_sum += rate * float(estimator.predict(first.astype(np.float32))[0])
        model = {
            "trees": trees,
            "base_offset": float(raw[k]) - tree_sum,
            # scikit-learn compares float32 inputs with the thresholds: so must shap.
            "input_dtype": np.float32,
            "tree_output": "raw_value",
        }
        with _quiet():
            explainer = shap.TreeExplainer(
                model, model_output="raw", feature_perturbation="tree_path_dependent"
            )
            values.append(np.asarray(explainer.shap_values(z, check_additivity=False)))
        base.append(float(np.asarray(explainer.expected_value).reshape(-1)[0]))
    return np.stack(values, axis=-1), np.asarray(base)


def _linear_values(final: Any, z: FloatArray, z_bg: FloatArray) -> tuple[Any, Any]:
    shap = _import_shap()

    with _quiet():
        masker = shap.maskers.Independent(z_bg, max_samples=len(z_bg))
        explainer = shap.LinearExplainer(final, masker)
        values = explainer.shap_values(z)
    return values, explainer.expected_value


def _permutation_values(
    final: Any,
    z: FloatArray,
    z_bg: FloatArray,
    output_of: OutputFn,
    as_input: Callable[[FloatArray], Any],
    seed: int,
    max_background: int,
) -> tuple[Any, Any]:
    """Seeded PermutationExplainer values on a background of at most ``max_background`` rows.

    The first call in a process also compiles shap's numba kernels (several seconds).
    """
    shap = _import_shap()

    def model_fn(matrix: FloatArray) -> FloatArray:
        return output_of(final, as_input(matrix))

    # Ten forward-and-backward permutations (shap's own "auto" budget); each costs
    # 2 * n_features + 1 evaluations of the model on the background.
    max_evals = 10 * (2 * z.shape[1] + 1)
    # shap seeds numpy's global generator; the caller's random state is put back afterwards.
    state = np.random.get_state()
    try:
        with _quiet():
            masker = shap.maskers.Independent(z_bg, max_samples=max(len(z_bg), max_background))
            explainer = shap.PermutationExplainer(model_fn, masker, seed=seed)
            result = explainer(z, max_evals=max_evals, silent=True)
    finally:
        np.random.set_state(state)
    return result.values, result.base_values


def _values_3d(values: Any, n_rows: int, n_encoded: int, n_outputs: int) -> FloatArray:
    """SHAP values in the (rows, features, outputs) layout, whatever shap version returned."""
    array = (
        np.stack([np.asarray(v) for v in values], axis=-1)
        if isinstance(values, list)
        else np.asarray(values, dtype=np.float64)
    )
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    expected = (n_rows, n_encoded, n_outputs)
    if array.shape != expected:
        raise RuntimeError(
            f"shap returned values of shape {array.shape}, expected {expected} "
            "(rows, features, model outputs)"
        )
    return np.ascontiguousarray(array, dtype=np.float64)


def _base_2d(base: Any, n_rows: int, n_outputs: int) -> FloatArray:
    """Base values as (rows, outputs): a per-output constant is repeated for every row."""
    array = np.asarray(base, dtype=np.float64)
    if array.size == n_outputs:
        return np.tile(array.reshape(1, n_outputs), (n_rows, 1))
    if array.size == n_rows * n_outputs:
        return array.reshape(n_rows, n_outputs).copy()
    raise RuntimeError(
        f"shap returned base values of shape {array.shape}, expected ({n_rows}, {n_outputs})"
    )
