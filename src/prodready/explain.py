"""SHAP explanations of individual decisions, in the applicant's own input features.

A readiness review has to answer "why did the model decide this for this person?". SHAP
answers with one number per input feature and decision: how much that feature moved the
model's output away from a baseline (the average output), so that, for every row,

    base value + sum of the feature contributions == the model's output      (local accuracy)

:func:`explain` picks the SHAP explainer by the type of the (final) estimator:

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

A scikit-learn ``Pipeline`` is explained in two steps: the final estimator is explained on what
the preceding steps make of the rows (one-hot columns and so on), then the contributions of
the encoded columns are summed back to the input column each came from (all one-hot columns of
``purpose`` become one ``purpose`` contribution). Summing keeps local accuracy and is the usual
way to report encoded features (it is not quite what treating the input column as one player
would give). Which input an encoded column comes from is read from the fitted
``ColumnTransformer`` (its column selections, one-hot category counts, output feature names).
When an encoded column depends on several input columns (PCA, polynomial features), its
contribution goes to a group named after all of them, joined with ``+`` (``"income+debt"``).

The units of the explained output depend on the model (``Explanation.output_names`` says which):
log-odds (softmax logits with more than two classes) for gradient boosting and logistic
regression classifiers, probabilities for random forests, decision trees and the permutation
explainer on classifiers, the prediction for regressors (its log for HistGradientBoosting with a
Poisson or Gamma loss). :meth:`Explanation.additivity_error` checks local accuracy against the
model's own output, computed from the model, not taken from shap.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready._exceptions import UsageError

__all__ = ["Explanation", "explain"]

FloatArray = npt.NDArray[np.float64]
ExplainerKind = Literal["tree", "linear", "permutation"]
# The input columns (positions in the model's input) one encoded column is computed from.
Owners = tuple[int, ...]
# A few rows as a transformer receives them, computed only when asked for (None if impossible).
Sample = Callable[[], Any]

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
# Boosted classifiers whose trees add up to the decision function (log-odds, softmax logits).
_BOOSTED_CLASSIFIERS = ("GradientBoostingClassifier", "HistGradientBoostingClassifier")
_XGBOOST_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor")
_LIGHTGBM_CLASSES = ("LGBMClassifier", "LGBMRegressor")
# Losses of HistGradientBoostingRegressor whose raw score is log(prediction).
_LOG_LINK_LOSSES = ("poisson", "gamma")


@dataclass
class Explanation:
    """Per-decision feature contributions, in the model's input features.

    Attributes:
        explainer: which SHAP algorithm produced the values: ``"tree"`` (exact, from the
            trees), ``"linear"`` (exact, from the coefficients) or ``"permutation"``
            (model-agnostic, seeded estimate).
        feature_names: the model's input columns, as the user gave them (one-hot and other
            encodings are summed back to their input column). Inputs the model never uses
            are listed too, with contributions of zero. Contributions that cannot be
            attributed to a single input go to a group named ``"a+b"``, listed last.
        values: contributions, shape ``(n_rows, n_features, n_outputs)``:
            ``values[i, j, k]`` is how much feature ``j`` moved output ``k`` of row ``i`` away
            from the base value, in the units of ``output_names[k]``.
        base_values: the baseline each row's contributions start from (the average output
            over the explainer's background data), shape ``(n_rows, n_outputs)``.
        model_output: the model's own output for the rows, in the same units, shape
            ``(n_rows, n_outputs)``; computed from the model, not by shap.
        output_names: what each output is, e.g. ``["log-odds of class 1"]``,
            ``["probability of class 'a'", "probability of class 'b'"]``, ``["prediction"]``.
    """

    explainer: str
    feature_names: list[str]
    values: FloatArray
    base_values: FloatArray
    model_output: FloatArray
    output_names: list[str]

    def additivity_error(self) -> float:
        """Largest violation of local accuracy, ``max |base + sum(values) - model_output|``.

        In the units of the outputs. Exact explainers give ~1e-12 or less; anything large means
        the explanation does not describe this model (a bug, or a model shap misreads).
        """
        if self.values.shape[0] == 0:
            return 0.0
        reconstructed = self.base_values + self.values.sum(axis=1)
        return float(np.max(np.abs(reconstructed - self.model_output)))

    def importance(self) -> dict[str, float]:
        """Global importance: the mean absolute contribution of each feature over the rows.

        Summed over the outputs; sorted from most to least important (ties keep the order of
        ``feature_names``). In the units of the outputs.
        """
        if self.values.shape[0] == 0:
            return dict.fromkeys(self.feature_names, 0.0)
        per_feature = np.abs(self.values).mean(axis=0).sum(axis=1)
        order = sorted(range(len(self.feature_names)), key=lambda j: -per_feature[j])
        return {self.feature_names[j]: float(per_feature[j]) for j in order}


def explain(
    model: Any,
    X: pd.DataFrame,
    *,
    background: pd.DataFrame,
    seed: int = 0,
    max_background: int = 100,
) -> Explanation:
    """Explain the model's outputs on the rows of ``X``, one contribution per input feature.

    Args:
        model: a fitted model with ``predict``: a scikit-learn estimator or ``Pipeline``, an
            xgboost/lightgbm scikit-learn-style model, or any object with ``predict`` (and
            ``predict_proba`` for a classifier) taking rows like ``X``.
        X: the decisions to explain, one row each, with the model's input columns.
        background: rows representing the population (usually the reference/training data);
            the baseline of the linear and permutation explainers is drawn from it.
        seed: seeds the background sample and the permutation explainer; same inputs and seed
            give identical values.
        max_background: at most this many background rows are used (cost grows linearly).

    Returns:
        An :class:`Explanation` (see there for shapes and units).

    Raises:
        UsageError: the model cannot predict or is not fitted, or ``X``/``background`` are
            empty or lack the model's input columns.

    The model and ``X`` are never mutated.
    """
    _check_arguments(model, X, background, max_background)
    transformers, final = _split_pipeline(model)
    columns = _input_columns(model, X)
    x_in = _model_rows(model, X, columns, "X")
    sample = _sample_rows(background, max_background, seed)
    bg_in = _model_rows(model, sample, columns, "background")
    kind = _choose_explainer(final)

    try:
        z = _to_float_matrix(_apply(transformers, x_in, "X"), "X")
        values, base, kind = _tree_or_none(kind, final, z)
        model_output, output_names, output_of = _model_outputs(model, final, kind, x_in)
        if kind != "tree":
            # Only the linear and permutation explainers use a background.
            z_bg = _to_float_matrix(_apply(transformers, bg_in, "background"), "background")
            if kind == "linear":
                values, base = _linear_values(final, z, z_bg)
            else:
                as_input = _input_maker(final, x_in if not transformers else None)
                values, base = _permutation_values(
                    final, z, z_bg, output_of, as_input, seed, max_background
                )
    except UsageError:
        raise
    except Exception as exc:
        if _is_not_fitted(exc):
            raise UsageError(f"the model is not fitted: {exc}") from exc
        raise

    n_rows, n_outputs = model_output.shape
    values = _values_3d(values, n_rows, z.shape[1], n_outputs)
    base = _base_2d(base, n_rows, n_outputs)

    owners = _encoded_owners(transformers, x_in, len(columns))
    names = [str(c) for c in columns]
    if len(owners) != z.shape[1]:
        warnings.warn(
            f"prodready.explain: could not tell which input column each of the "
            f"{z.shape[1]} encoded columns comes from (found {len(owners)}); all "
            "contributions are reported as one group of all inputs",
            RuntimeWarning,
            stacklevel=2,
        )
        owners = [tuple(range(len(columns)))] * z.shape[1]
    feature_names, matrix = _grouping(owners, names)
    grouped = np.einsum("nek,eg->ngk", values, matrix)

    return Explanation(
        explainer=kind,
        feature_names=feature_names,
        values=grouped,
        base_values=base,
        model_output=model_output,
        output_names=output_names,
    )


# --------------------------------------------------------------------------------------------
# Arguments and data


def _check_arguments(
    model: Any, X: pd.DataFrame, background: pd.DataFrame, max_background: int
) -> None:
    if not callable(getattr(model, "predict", None)):
        raise UsageError(
            f"cannot explain a {type(model).__name__}: it has no predict method "
            "(pass a fitted model or Pipeline ending in an estimator)"
        )
    for name, frame in (("X", X), ("background", background)):
        if not isinstance(frame, pd.DataFrame):
            raise UsageError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        if len(frame) == 0:
            what = "nothing to explain" if name == "X" else "no baseline to explain against"
            raise UsageError(f"{name} has no rows: {what}")
    if max_background < 1:
        raise UsageError(f"max_background must be at least 1, got {max_background}")


def _split_pipeline(model: Any) -> tuple[list[Any], Any]:
    """The transformers a Pipeline applies before its final estimator, and that estimator.

    Nested Pipelines in last position are flattened; a bare model has no transformers.
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline):
        return [], model
    transformers = [step for _, step in model.steps[:-1] if not _is_passthrough(step)]
    inner, final = _split_pipeline(model.steps[-1][1])
    return transformers + inner, final


def _is_passthrough(step: Any) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _input_columns(model: Any, X: pd.DataFrame) -> list[Any]:
    """The model's input columns: the ones it was fitted on when it knows them, else X's."""
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None:
        return list(X.columns)
    columns = list(fitted)
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise UsageError(f"X lacks the model's input columns {missing}")
    return columns


def _model_rows(model: Any, frame: pd.DataFrame, columns: list[Any], what: str) -> Any:
    """Rows in the form the model takes them: a DataFrame, or an array for models fitted on one.

    A scikit-learn model fitted on an array (no ``feature_names_in_``) gets an array, in the
    column order of ``frame``; that avoids its "X has feature names" warnings.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(f"{what} lacks the model's input columns {missing}")
    rows = frame.loc[:, columns]
    if getattr(model, "feature_names_in_", None) is None and hasattr(model, "n_features_in_"):
        if rows.shape[1] != model.n_features_in_:
            raise UsageError(
                f"{what} has {rows.shape[1]} columns, the model expects {model.n_features_in_}"
            )
        return rows.to_numpy()
    return rows


def _sample_rows(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows of ``frame``, drawn without replacement, in their original order."""
    if len(frame) <= size:
        return frame
    rng = np.random.default_rng(seed)
    return frame.iloc[np.sort(rng.choice(len(frame), size=size, replace=False))]


def _apply(transformers: Sequence[Any], data: Any, what: str) -> Any:
    """``data`` through the preprocessing steps; data they reject is the user's to fix."""
    try:
        for transformer in transformers:
            data = transformer.transform(data)
    except ValueError as exc:
        if _is_not_fitted(exc):
            raise
        raise UsageError(f"the model's preprocessing cannot transform {what}: {exc}") from exc
    return data


def _is_not_fitted(exc: BaseException) -> bool:
    # scikit-learn's NotFittedError, matched by name to keep sklearn out of the import path.
    return type(exc).__name__ == "NotFittedError"


def _to_float_matrix(data: Any, what: str) -> FloatArray:
    """A dense float64 2-D array of what the final estimator receives (sparse is densified)."""
    if hasattr(data, "toarray"):
        data = data.toarray()
    try:
        matrix = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"the estimator's input for {what} is not numeric ({exc}); put the encoding of "
            "non-numeric columns into a Pipeline in front of the estimator"
        ) from exc
    if matrix.ndim == 1:
        matrix = matrix.reshape(-1, 1)
    # One memory layout for every model: shap's numba kernels compile once per layout (seconds).
    return np.require(matrix, dtype=np.float64, requirements=["C", "W", "O"])


def _as_estimator_input(estimator: Any, matrix: FloatArray) -> Any:
    """The array as the estimator was fitted: a DataFrame with its feature names if it has them.

    Needed because estimators fitted on DataFrames warn (or fail) on bare arrays.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return matrix
    return pd.DataFrame(matrix, columns=list(names))


def _input_maker(final: Any, bare_rows: Any) -> Callable[[FloatArray], Any]:
    """How to hand masked rows (float arrays) to the estimator in the permutation explainer.

    ``bare_rows`` is the user's DataFrame when the model is not a Pipeline: a model that is not
    from scikit-learn may need its columns by name, so it gets a DataFrame like it.
    """
    if isinstance(bare_rows, pd.DataFrame) and getattr(final, "feature_names_in_", None) is None:
        columns = bare_rows.columns
        return lambda matrix: pd.DataFrame(matrix, columns=columns)
    return lambda matrix: _as_estimator_input(final, matrix)


# --------------------------------------------------------------------------------------------
# Which explainer, and what output it explains


def _type_name(model: Any) -> str:
    return type(model).__name__


def _module(model: Any) -> str:
    return type(model).__module__ or ""


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


# --------------------------------------------------------------------------------------------
# SHAP


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


# --------------------------------------------------------------------------------------------
# Which input column each encoded column comes from


def _encoded_owners(transformers: Sequence[Any], x_in: Any, n_inputs: int) -> list[Owners]:
    """For each column the final estimator sees, the model input columns it is computed from.

    Walks the fitted preprocessing steps; two rows of ``x_in`` are passed along (lazily) so
    that the output width of a transformer that cannot name its outputs can be measured.
    """
    owners: list[Owners] = [(i,) for i in range(n_inputs)]
    sample = _lazy(lambda: _head(x_in))
    for transformer in transformers:
        owners = _map_transformer(transformer, owners, sample)
        sample = _transformed(transformer, sample)
    # A column computed from no input at all (a constant) goes to the group of all inputs, so
    # that no contribution is lost.
    everything = tuple(range(n_inputs))
    return [owner if owner else everything for owner in owners]


def _head(data: Any, n: int = 2) -> Any:
    return data.iloc[:n] if isinstance(data, pd.DataFrame | pd.Series) else data[:n]


def _lazy(compute: Callable[[], Any]) -> Sample:
    """``compute()``, run at most once and only when first asked for; None if it fails.

    Samples are needed only for transformers that cannot name their outputs, and transforming
    even two rows through a ColumnTransformer costs tens of milliseconds.
    """
    cache: list[Any] = []

    def get() -> Any:
        if not cache:
            try:
                cache.append(compute())
            except Exception:
                # Only used to measure widths: if it fails, those outputs become one group.
                cache.append(None)
        return cache[0]

    return get


def _transformed(transformer: Any, sample: Sample) -> Sample:
    def compute() -> Any:
        rows = sample()
        return None if rows is None else transformer.transform(rows)

    return _lazy(compute)


def _union(owners: Sequence[Owners]) -> Owners:
    return tuple(sorted({i for owner in owners for i in owner}))


def _map_transformer(transformer: Any, owners: list[Owners], sample: Sample) -> list[Owners]:
    """Owners of the outputs of a fitted transformer, given the owners of its inputs."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if _is_passthrough(transformer):
        return list(owners)
    if isinstance(transformer, str) and transformer == "drop":
        return []
    if isinstance(transformer, Pipeline):
        for _, step in transformer.steps:
            if _is_passthrough(step):
                continue
            owners = _map_transformer(step, owners, sample)
            sample = _transformed(step, sample)
        return owners
    if isinstance(transformer, ColumnTransformer):
        return _map_column_transformer(transformer, owners, sample)
    if isinstance(transformer, FeatureUnion):
        out: list[Owners] = []
        for _, part in transformer.transformer_list:
            if isinstance(part, str) and part == "drop":
                continue
            out.extend(_map_transformer(part, owners, sample))
        return out
    if isinstance(transformer, OneHotEncoder):
        widths = _one_hot_widths(transformer)
        if widths is not None and len(widths) == len(owners):
            return [
                owner for owner, width in zip(owners, widths, strict=True) for _ in range(width)
            ]
    return _map_by_names(transformer, owners, sample)


def _map_column_transformer(transformer: Any, owners: list[Owners], sample: Sample) -> list[Owners]:
    """Concatenates the owners of each part, in the order ColumnTransformer stacks outputs."""
    out: list[Owners] = []
    for name, part, columns in transformer.transformers_:
        if isinstance(part, str) and part == "drop":
            continue
        indices = _column_indices(transformer, name, columns, sample, len(owners))
        if not indices:
            continue  # ColumnTransformer skips parts that select no column
        part_owners = [owners[i] for i in indices]
        if _is_passthrough(part):
            out.extend(part_owners)
            continue
        out.extend(_map_transformer(part, part_owners, _select(sample, columns, indices)))
    return out


def _column_indices(
    transformer: Any, name: str, columns: Any, sample: Sample, n_inputs: int
) -> list[int]:
    """Positions, in the ColumnTransformer's input, of the columns one of its parts takes."""
    known = getattr(transformer, "_transformer_to_input_indices", None)
    if isinstance(known, dict) and name in known:
        return [int(i) for i in known[name]]
    # Older/newer scikit-learn without that (private) record: resolve the selection ourselves.
    names = list(getattr(transformer, "feature_names_in_", []))
    if callable(columns):
        columns = columns(sample())
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):
            start = names.index(columns.start) if columns.start is not None else 0
            stop = names.index(columns.stop) + 1 if columns.stop is not None else len(names)
            return list(range(start, stop))
        return list(range(n_inputs))[columns]
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    selection = list(np.asarray(columns).reshape(-1)) if not isinstance(columns, list) else columns
    if selection and isinstance(selection[0], bool | np.bool_):
        return [i for i, keep in enumerate(selection) if keep]
    return [names.index(c) if isinstance(c, str) else int(c) for c in selection]


def _select(sample: Sample, columns: Any, indices: list[int]) -> Sample:
    """The sample's columns as ColumnTransformer hands them to a part (1-D for a scalar key)."""
    scalar = isinstance(columns, str | int | np.integer)

    def compute() -> Any:
        rows = sample()
        if rows is None:
            return None
        if isinstance(rows, pd.DataFrame):
            return rows.iloc[:, indices[0]] if scalar else rows.iloc[:, indices]
        return rows[:, indices[0]] if scalar else rows[:, indices]

    return _lazy(compute)


def _one_hot_widths(encoder: Any) -> list[int] | None:
    """How many output columns each input column of a fitted OneHotEncoder has.

    Categories minus the dropped one, with infrequent categories merged into one column;
    checked against the length of ``get_feature_names_out()``.
    """
    try:
        total = len(encoder.get_feature_names_out())
    except Exception:
        return None
    widths = [len(categories) for categories in encoder.categories_]
    try:
        infrequent = encoder.infrequent_categories_
    except AttributeError:
        infrequent = [None] * len(widths)
    drop = getattr(encoder, "drop_idx_", None)
    for i in range(len(widths)):
        if infrequent[i] is not None and len(infrequent[i]) > 0:
            widths[i] -= len(infrequent[i]) - 1
        if drop is not None and drop[i] is not None:
            widths[i] -= 1
    if sum(widths) == total:
        return widths
    private = getattr(encoder, "_n_features_outs", None)  # scikit-learn's own per-input widths
    if private is not None and sum(private) == total:
        return [int(w) for w in private]
    return None


def _map_by_names(transformer: Any, owners: list[Owners], sample: Sample) -> list[Owners]:
    """Owners of a transformer's outputs, read from its output feature names.

    * names equal to its input names (scalers, imputers, ordinal encoders): one to one;
    * a subset of its input names (feature selectors): by name;
    * ``<input>_<suffix>`` or ``<prefix>_<input>`` (binned, spline, target-encoded columns,
      missing-value indicators): that input, the longest name matching;
    * anything else (PCA, polynomial features...): every output belongs to all its inputs.

    Without names, a transformer keeping the number of columns is taken as one to one.
    """
    names_in = getattr(transformer, "feature_names_in_", None)
    inputs = [str(n) for n in names_in] if names_in is not None else []
    if len(inputs) != len(owners):
        inputs = [f"x{i}" for i in range(len(owners))]
    try:
        names_out = [str(n) for n in transformer.get_feature_names_out()]
    except Exception:
        names_out = None
    everything = _union(owners)
    if names_out is None:
        width = _output_width(transformer, sample)
        if width is None:
            return []  # unknown width: the caller's width check will group everything
        return list(owners) if width == len(owners) else [everything] * width
    if names_out == inputs:
        return list(owners)
    position = {name: i for i, name in enumerate(inputs)}
    matched: list[Owners] = []
    for name in names_out:
        if name in position:
            matched.append(owners[position[name]])
            continue
        candidates = [n for n in inputs if name.startswith(n + "_") or name.endswith("_" + n)]
        if not candidates:
            return [everything] * len(names_out)
        matched.append(owners[position[max(candidates, key=len)]])
    return matched


def _output_width(transformer: Any, sample: Sample) -> int | None:
    rows = sample()
    if rows is None:
        return None
    try:
        out = transformer.transform(rows)
    except Exception:
        return None
    shape = getattr(out, "shape", None)
    if shape is None:
        return None
    return 1 if len(shape) == 1 else int(shape[1])


def _grouping(owners: list[Owners], names: list[str]) -> tuple[list[str], FloatArray]:
    """Feature names and the 0/1 matrix (encoded columns x features) summing contributions.

    Every input column is listed (in input order; unused ones get zero) unless it only
    appears inside groups; groups of several inputs follow, in order of first appearance.
    """
    singles = {owner[0] for owner in owners if len(owner) == 1}
    grouped_only = {i for owner in owners if len(owner) > 1 for i in owner} - singles
    features: list[Owners] = [(i,) for i in range(len(names)) if i not in grouped_only]
    for owner in owners:
        if len(owner) > 1 and owner not in features:
            features.append(owner)
    index = {owner: g for g, owner in enumerate(features)}
    matrix = np.zeros((len(owners), len(features)))
    for e, owner in enumerate(owners):
        matrix[e, index[owner]] = 1.0
    return ["+".join(names[i] for i in owner) for owner in features], matrix
