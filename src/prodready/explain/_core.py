"""The :class:`Explanation` of a model's decisions and the :func:`explain` entry point.

:func:`explain` checks its arguments, splits a ``Pipeline`` into its preprocessing steps and
final estimator, prepares the rows, has :mod:`~prodready.explain.backends` explain the final
estimator's output (see :mod:`~prodready.explain.outputs`) and sums the contributions of
encoded columns back to the input columns (:mod:`~prodready.explain.mapping`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prodready._exceptions import UsageError
from prodready.explain._common import (
    FloatArray,
    _as_estimator_input,
    _is_not_fitted,
    _is_passthrough,
)
from prodready.explain.backends import (
    _base_2d,
    _choose_explainer,
    _linear_values,
    _permutation_values,
    _tree_or_none,
    _values_3d,
)
from prodready.explain.mapping import _encoded_owners, _grouping
from prodready.explain.outputs import _model_outputs


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

    # A model that is not a Pipeline but takes text or categories (its own encoding inside,
    # a served model) is a black box on its raw columns: permutation on integer codes.
    codec = _Codec.fit(x_in, bg_in) if not transformers else None
    if codec is not None:
        kind = "permutation"

    try:
        z = (
            codec.encode(x_in)
            if codec is not None
            else _to_float_matrix(_apply(transformers, x_in, "X"), "X")
        )
        values, base, kind = _tree_or_none(kind, final, z)
        model_output, output_names, output_of = _model_outputs(model, final, kind, x_in)
        if kind != "tree":
            # Only the linear and permutation explainers use a background.
            z_bg = (
                codec.encode(bg_in)
                if codec is not None
                else _to_float_matrix(_apply(transformers, bg_in, "background"), "background")
            )
            if kind == "linear":
                values, base = _linear_values(final, z, z_bg)
            else:
                as_input = (
                    codec.decode
                    if codec is not None
                    else _input_maker(final, x_in if not transformers else None)
                )
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


class _Codec:
    """Integer codes for the non-numeric columns of a bare model's input DataFrame.

    The permutation explainer masks rows as float arrays; a model without a Pipeline that
    takes text or categories gets its rows back as a DataFrame like the user's, each code
    decoded to its value (missing values are a value of their own). Codes come from the
    values seen in the explained rows and the background together.
    """

    def __init__(self, frames: Sequence[pd.DataFrame]) -> None:
        first = frames[0]
        self.columns = first.columns
        self.dtypes = first.dtypes
        self.values: dict[int, Any] = {}
        for j, column in enumerate(first.columns):
            if not _is_number_column(first[column]):
                joined = pd.concat([f[column] for f in frames], ignore_index=True)
                _, uniques = pd.factorize(joined, use_na_sentinel=False)
                self.values[j] = uniques

    @classmethod
    def fit(cls, *frames: Any) -> _Codec | None:
        """A codec for these frames, or None when they are not DataFrames or all numeric."""
        if not all(isinstance(f, pd.DataFrame) for f in frames):
            return None
        codec = cls(frames)
        return codec if codec.values else None

    def encode(self, frame: pd.DataFrame) -> FloatArray:
        matrix = np.empty(frame.shape, dtype=np.float64)
        for j, column in enumerate(self.columns):
            if j in self.values:
                index = pd.Index(self.values[j])
                matrix[:, j] = index.get_indexer(frame[column])
            else:
                matrix[:, j] = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.require(matrix, dtype=np.float64, requirements=["C", "W", "O"])

    def decode(self, matrix: FloatArray) -> pd.DataFrame:
        data: dict[Any, Any] = {}
        for j, column in enumerate(self.columns):
            if j in self.values:
                data[column] = np.asarray(self.values[j], dtype=object)[matrix[:, j].astype(int)]
            else:
                data[column] = matrix[:, j]
        frame = pd.DataFrame(data, columns=self.columns)
        for j, column in enumerate(self.columns):
            if j not in self.values and pd.api.types.is_integer_dtype(self.dtypes.iloc[j]):
                frame[column] = frame[column].astype(self.dtypes.iloc[j])
        return frame


def _is_number_column(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _input_maker(final: Any, bare_rows: Any) -> Callable[[FloatArray], Any]:
    """How to hand masked rows (float arrays) to the estimator in the permutation explainer.

    ``bare_rows`` is the user's DataFrame when the model is not a Pipeline: a model that is not
    from scikit-learn may need its columns by name, so it gets a DataFrame like it.
    """
    if isinstance(bare_rows, pd.DataFrame) and getattr(final, "feature_names_in_", None) is None:
        columns = bare_rows.columns
        return lambda matrix: pd.DataFrame(matrix, columns=columns)
    return lambda matrix: _as_estimator_input(final, matrix)
