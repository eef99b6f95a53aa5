"""A zoo of deliberately broken models, shared by the tests of every probe.

Each one wraps a real fitted model, so that a probe sees what it sees in production: the
same ``classes_``, ``feature_names_in_``, ``n_features_in_`` and ``_estimator_type``, and
the same prediction methods (``predict``, and ``predict_proba`` / ``decision_function`` only
when the wrapped model has them). Each breaks in one way a real model does, so that a probe's
test can assert the exact judgement (a FAIL naming the cause, never an ERROR):

- :class:`RaisesOnNaN`: raises like scikit-learn when an input is missing;
- :class:`NaNProbabilities`: answers NaN for some or all rows;
- :class:`Slow`: takes a set time per call (load tests, time limits, cancellation);
- :class:`MutatesInput`: writes into the frame it is given (a probe must hand it copies);
- :class:`NonDeterministic`: answers differently each call (stability checks);
- :class:`Raising`: raises on every call;
- :class:`Fragile`: raises on missing values, and is sure of itself on unseen categories.

Every wrapper counts its calls in ``calls``. :func:`with_nan` makes data with missing values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Fragile",
    "MutatesInput",
    "NaNProbabilities",
    "NonDeterministic",
    "RaisesOnNaN",
    "Raising",
    "Slow",
    "ZooModel",
    "with_nan",
]

#: The attributes of a fitted estimator that probes (and System) read, copied by wrappers.
MODEL_ATTRIBUTES = ("classes_", "feature_names_in_", "n_features_in_", "_estimator_type")


class _Method:
    """A prediction method, present on the wrapper only if the wrapped model has it.

    ``hasattr(wrapper, "predict_proba")`` is then the same as for the model itself, which
    is how probes (and scikit-learn) tell a classifier with probabilities from one without.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: ZooModel | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        if not hasattr(obj.model, self.name):
            raise AttributeError(
                f"{type(obj.model).__name__!r} object has no attribute {self.name!r}"
            )
        name = self.name

        def method(X: Any) -> Any:
            obj.calls += 1
            return obj._call(name, X)

        method.__name__ = name
        return method


class ZooModel:
    """Base of the zoo: looks like ``model`` and delegates to it; subclasses break ``_call``."""

    predict = _Method()
    predict_proba = _Method()
    decision_function = _Method()
    # Set only when the wrapped model has them (MODEL_ATTRIBUTES).
    classes_: Any
    feature_names_in_: Any
    n_features_in_: int
    _estimator_type: str

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0
        for name in MODEL_ATTRIBUTES:
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def __getstate__(self) -> dict[str, Any]:
        # The call counter (and a noise generator's position) is bookkeeping, not the model:
        # leaving it out keeps the model's digest the same before and after it is used.
        return {k: v for k, v in self.__dict__.items() if k not in ("calls", "rng")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, calls=0)

    def _call(self, method: str, X: Any) -> Any:
        """What ``model.<method>(X)`` returns through this wrapper (the model's own answer)."""
        fn: Callable[[Any], Any] = getattr(self.model, method)
        return fn(X)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__})"


class RaisesOnNaN(ZooModel):
    """Raises ``ValueError("Input X contains NaN.")`` when any input value is missing.

    That is what most scikit-learn estimators do (a Pipeline without an imputer); a probe
    must count the rows the model cannot score and FAIL, naming the column with missing
    values, and keep measuring on the other rows (:func:`prodready.probes.score_model`).
    """

    def _call(self, method: str, X: Any) -> Any:
        if bool(pd.DataFrame(X).isna().to_numpy().any()):
            raise ValueError(
                f"Input X contains NaN.\n{type(self.model).__name__} does not accept missing "
                "values encoded as NaN natively."
            )
        return super()._call(method, X)


class NaNProbabilities(ZooModel):
    """Answers NaN for a ``share`` of the rows (all by default) instead of raising.

    The rows are chosen by their content (a hash of the row), so a row gets NaN whatever
    batch it comes in. ``predict_proba`` and ``decision_function`` answer NaN for those
    rows; ``predict`` too for a regressor (a classifier still predicts its labels). A
    silent NaN is worse than an exception: a probe must treat it as a row the model could
    not score.
    """

    def __init__(self, model: Any, share: float = 1.0) -> None:
        super().__init__(model)
        self.share = share

    def nan_rows(self, X: Any) -> np.ndarray:
        """The boolean mask of the rows of ``X`` this model answers NaN for."""
        hashes = pd.util.hash_pandas_object(pd.DataFrame(X), index=False).to_numpy()
        return np.asarray((hashes % 10_000) < self.share * 10_000)

    def _call(self, method: str, X: Any) -> Any:
        out = np.asarray(super()._call(method, X))
        classifier_labels = method == "predict" and hasattr(self.model, "classes_")
        if classifier_labels:
            return out
        out = out.astype(float, copy=True)
        out[self.nan_rows(X)] = np.nan
        return out


class Slow(ZooModel):
    """Sleeps ``delay`` seconds per call, then answers like the model.

    For load tests (latency, saturation), probe time limits and cancellation: a probe that
    scores row by row through a slow model must still stop when it is cancelled.
    """

    def __init__(self, model: Any, delay: float = 0.05) -> None:
        super().__init__(model)
        self.delay = delay

    def _call(self, method: str, X: Any) -> Any:
        time.sleep(self.delay)
        return super()._call(method, X)


class MutatesInput(ZooModel):
    """Writes into the frame it is given (the first numeric column set to 0), then answers.

    It answers with the model's output on its own copy of the rows taken before the write,
    so its answers are right: only the caller's frame is damaged. A probe that hands it the
    system's own data (not a copy) corrupts every later measurement and every later probe;
    :func:`prodready.testing.check_system_unchanged` and the probes' own tests catch that.
    """

    def _call(self, method: str, X: Any) -> Any:
        own = X.copy()
        if isinstance(X, pd.DataFrame):
            numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
            if numeric:
                X.loc[:, numeric[0]] = 0
            elif len(X):
                first: Any = X.iloc[0, 0]
                X.loc[:, X.columns[0]] = first
        elif isinstance(X, np.ndarray) and X.flags.writeable and X.size:
            X[..., 0] = 0
        return super()._call(method, own)


class NonDeterministic(ZooModel):
    """Adds random noise to its answers, different at each call.

    Probabilities get noise of standard deviation ``scale`` (then are clipped and made to sum
    to one again), regression predictions and decision scores noise of ``scale`` times
    their spread; a classifier's labels are re-drawn from the noisy probabilities. The noise
    comes from a generator seeded with ``seed`` (None: fresh entropy), so a test is
    repeatable while two calls still differ. Explanations of such a model are unstable.
    """

    def __init__(self, model: Any, scale: float = 0.05, seed: int | None = None) -> None:
        super().__init__(model)
        self.scale, self.seed = scale, seed
        self.rng = np.random.default_rng(seed)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.rng = np.random.default_rng(self.seed)  # a copy starts its noise afresh

    def _noisy_proba(self, X: Any) -> np.ndarray:
        proba = np.asarray(self.model.predict_proba(X), dtype=float)
        noisy = np.clip(proba + self.rng.normal(0.0, self.scale, proba.shape), 1e-6, None)
        return np.asarray(noisy / noisy.sum(axis=1, keepdims=True))

    def _call(self, method: str, X: Any) -> Any:
        if method == "predict_proba":
            return self._noisy_proba(X)
        if method == "predict" and hasattr(self.model, "predict_proba"):
            return np.asarray(self.model.classes_)[np.argmax(self._noisy_proba(X), axis=1)]
        out = np.asarray(super()._call(method, X), dtype=float)
        spread = float(np.std(out)) or 1.0
        return out + self.rng.normal(0.0, self.scale * spread, out.shape)


class Raising(ZooModel):
    """Raises on every call (``RuntimeError`` unless ``error`` says otherwise).

    A model that cannot score anything: the probe must FAIL, saying so, and still report
    what it measured without the model (feature drift, for one).
    """

    def __init__(self, model: Any, error: Exception | None = None) -> None:
        super().__init__(model)
        self.error = error if error is not None else RuntimeError("the model is broken")

    def _call(self, method: str, X: Any) -> Any:
        raise self.error


_NAN_SALT = 0x6E616E  # "nan"


def with_nan(frame: pd.DataFrame, column: str, share: float, *, seed: int = 0) -> pd.DataFrame:
    """A copy of ``frame`` with NaN in ``column`` for ``round(share * len(frame))`` rows.

    The rows are drawn at random with ``seed``, so the same call gives the same rows; the
    generator is salted, so that they are not the very rows a probe samples with
    ``np.random.default_rng(seed)`` (with the same seed, those would all be missing). A
    non-float column is turned into a float (or object) column as pandas does when it gets
    a missing value.
    """
    out = frame.copy()
    n = round(share * len(out))
    rows = np.random.default_rng([_NAN_SALT, seed]).choice(len(out), size=n, replace=False)
    position: Any = out.columns.get_loc(column)
    if pd.api.types.is_integer_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
        out[column] = out[column].astype(float)
    elif not (
        pd.api.types.is_float_dtype(out[column]) or pd.api.types.is_string_dtype(out[column])
    ):
        out[column] = out[column].astype(object)
    out.iloc[np.sort(rows), position] = np.nan
    return out


class Fragile(ZooModel):
    """A prototype's two classic faults: it raises on a missing value, and it answers a
    category it never saw with full confidence.

    ``known`` maps each categorical column to its categories seen in training. A batch with
    any missing value (NaN or None) raises ``ValueError("Input X contains NaN.")``, the whole
    batch failing as with scikit-learn. A row holding a value outside ``known`` in one of
    those columns gets probability ``confidence`` for the last class from ``predict_proba``
    (and that class from ``predict``): a normal-looking, confident answer to nonsense. Every
    other row gets the wrapped model's answer.
    """

    def __init__(self, model: Any, known: dict[str, list[Any]], confidence: float = 0.99) -> None:
        super().__init__(model)
        self.known = {column: set(values) for column, values in known.items()}
        self.confidence = confidence

    def unseen_rows(self, X: Any) -> np.ndarray:
        """The boolean mask of the rows of ``X`` with a category outside ``known``."""
        frame = pd.DataFrame(X)
        mask = np.zeros(len(frame), dtype=bool)
        for column, values in self.known.items():
            if column in frame.columns:
                mask |= ~frame[column].map(lambda v, values=values: v in values).to_numpy(bool)
        return mask

    def _call(self, method: str, X: Any) -> Any:
        if bool(pd.DataFrame(X).isna().to_numpy().any()):
            raise ValueError("Input X contains NaN.")
        out = np.array(super()._call(method, X), copy=True)
        unseen = self.unseen_rows(X)
        if not unseen.any():
            return out
        if method == "predict_proba":
            k = out.shape[1]
            confident = np.full(k, (1 - self.confidence) / max(k - 1, 1))
            confident[-1] = self.confidence
            out = out.astype(float)
            out[unseen] = confident
        elif method == "predict" and hasattr(self.model, "classes_"):
            out[unseen] = self.model.classes_[-1]
        return out
