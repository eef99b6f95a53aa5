"""The guard: a model behind its input schema, with a safe default and a decision log."""

from __future__ import annotations

import logging
import math
import numbers
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodready import _chain
from prodready._exceptions import UsageError
from prodready.guard._digest import canonical_value, row_digests
from prodready.guard._log import LOG_FORMAT
from prodready.guard._schema import InputSchema, Inspection, Violation

__all__ = [
    "Decisions",
    "Guard",
    "InputRejected",
    "OnInvalid",
    "rejection_message",
]

_logger = logging.getLogger("prodready.guard")

#: Violations shown in a rejection's message (all of them are in ``.violations``).
_SHOWN: Final = 5

OnInvalid = Literal["reject", "safe_default"]

_F = TypeVar("_F", bound=Callable[..., Any])


class _IfClassifier:
    """A method that only a guard around a classifier has: ``hasattr`` is False otherwise.

    What scikit-learn's ``available_if`` does, without importing scikit-learn here (a client
    that only computes digests should not pay for it).
    """

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.__doc__ = method.__doc__
        self.__name__ = method.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if not instance._is_classifier:
            raise AttributeError(f"a guard around a regressor has no {self.__name__}")
        return self.method.__get__(instance, owner)


def _if_classifier(method: _F) -> _F:
    return cast(_F, _IfClassifier(method))


class InputRejected(ValueError):
    """The guard refused a request: some rows break the input schema.

    This is the *system's* answer to bad input (an HTTP 4xx through a server), not an error
    of prodready. ``violations`` lists every broken rule (row, column, rule, value, message);
    ``n_rows`` is the number of rows in the request. The message names the first few.
    """

    def __init__(self, violations: Sequence[Violation], n_rows: int) -> None:
        self.violations = list(violations)
        self.n_rows = n_rows
        super().__init__(rejection_message(self.violations, n_rows))


def rejection_message(violations: Sequence[Violation], n_rows: int) -> str:
    """One line naming the first few violations (row, column, rule) and how many there are."""
    rows = len({violation.row for violation in violations})
    shown = "; ".join(str(violation) for violation in violations[:_SHOWN])
    more = f"; and {len(violations) - _SHOWN} more" if len(violations) > _SHOWN else ""
    return (
        f"input rejected: {len(violations)} violation(s) in {rows} of {n_rows} row(s): "
        f"{shown}{more}"
    )


@dataclass(frozen=True)
class Decisions:
    """The guard's answer to one request, one entry per row.

    ``outputs``: class probabilities in ``classes_`` order, shape ``(n, k)``, for a classifier;
    the predicted values, shape ``(n,)``, for a regressor. ``predictions``: the predicted
    class (the most probable) or value. ``decision_ids``: each decision's id (32 hex digits,
    the key of its decision-log line). ``safe_default``: True where the row was answered with
    the declared safe default instead of the model. ``violations``: what was wrong with those
    rows. ``reasons``: why each row got the safe default (``"safe_default"`` for invalid
    input, ``"model_error"`` when the model failed), ``""`` for the model's own answers.
    """

    outputs: npt.NDArray[Any]
    predictions: npt.NDArray[Any]
    decision_ids: tuple[str, ...]
    safe_default: npt.NDArray[np.bool_]
    violations: list[Violation] = field(default_factory=list)
    reasons: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.decision_ids)


class Guard:
    """A model made fit for production: checked inputs, a safe default, a decision log.

    ``decide(frame)`` checks every row against ``schema`` (an :class:`InputSchema` learned from
    the reference data). With ``on_invalid="reject"`` one invalid row rejects the whole request
    (:class:`InputRejected`, naming row, column and rule); with ``"safe_default"`` the invalid
    rows are answered by ``safe_default`` and flagged, and the model answers the others (if the
    model itself raises, its rows get the safe default too, logged as ``model_error``).

    ``safe_default``: for a classifier a class label (its output is that class with
    probability 1) or a probability row (one number per class, summing to 1; its prediction
    is the most probable class); for a regressor a number.

    With ``decision_log`` (a file path) every answered row gets one line there, appended to a
    hash-chained JSON-lines file (format: ``docs/decision-log.md``): decision id, UTC time,
    ``model_version``, ``model_sha256`` (the digest of the model artifact, e.g. the ``.skops``
    file's), the input digest (:func:`~prodready.guard.input_digest` of the row's features),
    the input itself (canonical form; ``log_inputs=False`` leaves it out), output, prediction
    and whether the guard intervened. ``durable=True`` fsyncs every append (see
    :func:`prodready._chain.append`). Rejected requests are not decisions and are not logged.

    The guard also looks like a scikit-learn estimator (``predict``, ``predict_proba`` for
    classifiers, ``classes_``, ``feature_names_in_``, ``n_features_in_``); each of those calls
    is a decision of its own, logged. It never changes the frames it is given.
    """

    def __init__(
        self,
        model: Any,
        schema: InputSchema,
        *,
        on_invalid: OnInvalid = "reject",
        safe_default: Any = None,
        decision_log: str | os.PathLike[str] | None = None,
        model_version: str = "",
        model_sha256: str = "",
        log_inputs: bool = True,
        durable: bool = False,
    ) -> None:
        if on_invalid not in ("reject", "safe_default"):
            raise UsageError(f"on_invalid must be 'reject' or 'safe_default', not {on_invalid!r}")
        if not isinstance(schema, InputSchema):
            raise UsageError(f"schema must be an InputSchema, not {type(schema).__name__}")
        self.model = model
        self.schema = schema
        self.on_invalid: OnInvalid = on_invalid
        self.decision_log = _prepare_log(decision_log) if decision_log is not None else None
        self.model_version = str(model_version)
        self.model_sha256 = str(model_sha256)
        self.log_inputs = bool(log_inputs)
        self.durable = bool(durable)
        self._features = schema.features
        self._model_columns = self._resolve_model_columns()
        classes = getattr(model, "classes_", None)
        self._is_classifier = classes is not None
        if self._is_classifier and not hasattr(model, "predict_proba"):
            raise UsageError(
                f"{type(model).__name__} is a classifier without predict_proba: a guard answers "
                "classifiers with probabilities"
            )
        self._classes: npt.NDArray[Any] | None = (
            np.asarray(classes) if classes is not None else None
        )
        self.safe_default = safe_default
        self._default_output, self._default_prediction = self._parse_safe_default(safe_default)
        if on_invalid == "safe_default" and self._default_output is None:
            raise UsageError("on_invalid='safe_default' needs a safe_default value")

    # -- the sklearn face -----------------------------------------------------------------

    @property
    def classes_(self) -> npt.NDArray[Any]:
        """The model's classes (classifiers only)."""
        if self._classes is None:
            raise AttributeError("a regressor has no classes_")
        return self._classes

    @property
    def feature_names_in_(self) -> npt.NDArray[np.object_]:
        """The feature columns the guard checks and the model reads, in the model's order."""
        return np.array(self._model_columns, dtype=object)

    @property
    def n_features_in_(self) -> int:
        """Number of feature columns."""
        return len(self._model_columns)

    @property
    def _estimator_type(self) -> str:
        return "classifier" if self._is_classifier else "regressor"

    def predict(self, frame: pd.DataFrame | npt.NDArray[Any]) -> npt.NDArray[Any]:
        """The predicted class or value of each row (each row is a logged decision)."""
        return self.decide(frame).predictions

    @_if_classifier
    def predict_proba(self, frame: pd.DataFrame | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Class probabilities, shape ``(n, k)`` (each row is a logged decision)."""
        return self.decide(frame).outputs

    def __repr__(self) -> str:
        return (
            f"Guard({type(self.model).__name__}, {len(self._features)} features, "
            f"on_invalid={self.on_invalid!r}, decision_log={self.decision_log})"
        )

    # -- deciding -------------------------------------------------------------------------

    def decide(self, frame: pd.DataFrame | npt.NDArray[Any]) -> Decisions:
        """Check, answer and log every row of ``frame``; see the class docstring.

        Raises :class:`InputRejected` (``on_invalid="reject"``) when any row breaks the schema,
        the model's own exception when it fails (``on_invalid="reject"``), and ``OSError``
        when the decision log cannot be written: a decision that cannot be traced is not
        answered.
        """
        frame = self._as_frame(frame)
        n = len(frame)
        inspection = self.schema.inspect(frame)
        bad, violations = inspection.bad, inspection.violations
        if violations and self.on_invalid == "reject":
            rejected = InputRejected(violations, n)
            _logger.info("guard: %s", rejected)
            raise rejected
        reasons = ["safe_default" if flag else "" for flag in bad.tolist()] if bad.any() else []
        outputs = self._empty_outputs(n)
        good = np.flatnonzero(~bad)
        if good.size:
            rows = frame if good.size == n else frame.iloc[good]
            try:
                outputs[good] = self._model_outputs(rows)
            except Exception as exc:
                if self.on_invalid == "reject":
                    raise
                _logger.warning("model failed; answering with the safe default: %r", exc)
                reasons = reasons or [""] * n
                for row in good.tolist():
                    reasons[row] = "model_error"
                bad = bad.copy()
                bad[good] = True
                error = f"{type(exc).__name__}: {exc}"[:500]
            else:
                error = ""
        else:
            error = ""
        if bad.any():
            outputs[bad] = self._default_output
        predictions = self._predictions(outputs, bad)
        ids = tuple(uuid.uuid4().hex for _ in range(n))
        if self.decision_log is not None and n:
            self._log(inspection, ids, outputs, predictions, reasons, violations, error)
        return Decisions(
            outputs=outputs,
            predictions=predictions,
            decision_ids=ids,
            safe_default=bad,
            violations=violations,
            reasons=tuple(reasons) if reasons else ("",) * n,
        )

    def _as_frame(self, frame: Any) -> pd.DataFrame:
        if isinstance(frame, pd.DataFrame):
            return frame
        if isinstance(frame, np.ndarray) and frame.ndim == 2:
            if frame.shape[1] != len(self._model_columns):
                raise ValueError(
                    f"an array with {frame.shape[1]} columns; the model reads "
                    f"{len(self._model_columns)} features"
                )
            return pd.DataFrame(frame, columns=self._model_columns)
        raise TypeError(f"a guard decides on a pandas DataFrame, not {type(frame).__name__}")

    def _model_outputs(self, rows: pd.DataFrame) -> npt.NDArray[Any]:
        """The model's answer for valid rows (the columns put in the model's order)."""
        columns = self._model_columns
        if rows.columns.tolist() != columns:
            rows = rows[columns]
        if self._is_classifier:
            return np.asarray(self.model.predict_proba(rows), dtype=np.float64)
        return np.asarray(self.model.predict(rows), dtype=np.float64).reshape(-1)

    def _empty_outputs(self, n: int) -> npt.NDArray[np.float64]:
        if self._classes is not None:
            return np.zeros((n, len(self._classes)), dtype=np.float64)
        return np.zeros(n, dtype=np.float64)

    def _predictions(
        self, outputs: npt.NDArray[np.float64], defaulted: npt.NDArray[np.bool_]
    ) -> npt.NDArray[Any]:
        if self._classes is None:
            return outputs.copy()
        # The most probable class: what sklearn classifiers' predict returns, without a
        # second pass through the model.
        if not len(outputs):
            return self._classes[:0].copy()
        predictions: npt.NDArray[Any] = self._classes[np.argmax(outputs, axis=1)]
        if defaulted.any():
            predictions[defaulted] = self._default_prediction
        return predictions

    # -- logging --------------------------------------------------------------------------

    def _log(
        self,
        inspection: Inspection,
        ids: tuple[str, ...],
        outputs: npt.NDArray[np.float64],
        predictions: npt.NDArray[Any],
        reasons: list[str],
        violations: list[Violation],
        error: str,
    ) -> None:
        assert self.decision_log is not None
        names, columns = inspection.canonical_columns()
        digests, inputs = row_digests(names, columns, inspection.n_rows)
        time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        output_values = (
            outputs.tolist() if np.isfinite(outputs).all() else canonical_value(outputs.tolist())
        )
        prediction_values = [_json_label(value) for value in predictions.tolist()]
        by_row: dict[int, list[dict[str, Any]]] = {}
        for violation in violations:
            by_row.setdefault(violation.row, []).append(violation.to_dict())
        records: list[dict[str, Any]] = []
        for row, digest in enumerate(digests):
            record: dict[str, Any] = {
                "format": LOG_FORMAT,
                "decision_id": ids[row],
                "time": time,
                "model_version": self.model_version,
                "model_sha256": self.model_sha256,
                "input_sha256": digest,
                "output": output_values[row],
                "prediction": prediction_values[row],
                "intervened": False,
            }
            if self.log_inputs:
                record["input"] = inputs[row]
            reason = reasons[row] if reasons else ""
            if reason:
                record["intervened"] = reason
                if reason == "model_error":
                    record["error"] = error
                else:
                    record["violations"] = by_row.get(row, [])
            records.append(record)
        _chain.append(self.decision_log, records, durable=self.durable)

    # -- set-up ---------------------------------------------------------------------------

    def _resolve_model_columns(self) -> list[str]:
        names = getattr(self.model, "feature_names_in_", None)
        if names is None:
            return list(self._features)
        model_columns = [str(name) for name in names]
        if set(model_columns) != set(self._features):
            only_model = sorted(set(model_columns) - set(self._features))
            only_schema = sorted(set(self._features) - set(model_columns))
            raise UsageError(
                "the input schema and the model disagree on the features: "
                f"the model also reads {only_model}, the schema also has {only_schema}"
            )
        return model_columns

    def _parse_safe_default(self, value: Any) -> tuple[Any, Any]:
        """``(output row or value, prediction)`` of the declared safe default (None, None)."""
        if value is None:
            return None, None
        classes = self._classes
        if classes is None:
            if (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool | np.bool_)
                and math.isfinite(float(value))
            ):
                return float(value), float(value)
            raise UsageError(f"the safe default of a regressor must be a number, not {value!r}")
        if np.ndim(value) == 0:
            matches = [index for index, label in enumerate(classes.tolist()) if label == value]
            if not matches:
                raise UsageError(
                    f"the safe default {value!r} is not a class of the model "
                    f"({', '.join(map(repr, classes.tolist()))})"
                )
            row = np.zeros(len(classes))
            row[matches[0]] = 1.0
            return row, classes[matches[0]]
        try:
            row = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            row = np.array([])
        if (
            row.size != len(classes)
            or not np.isfinite(row).all()
            or (row < 0).any()
            or abs(float(row.sum()) - 1.0) > 1e-6
        ):
            raise UsageError(
                f"the safe default of a classifier with {len(classes)} classes must be a class "
                f"label or {len(classes)} probabilities summing to 1, not {value!r}"
            )
        return row, classes[int(np.argmax(row))]


def _json_label(value: Any) -> Any:
    """A prediction as a JSON value: labels stay as they are (1 stays 1), NaN -> None."""
    if isinstance(value, float) and not math.isfinite(value):
        return canonical_value(value)
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    return canonical_value(value)


def _prepare_log(path: str | os.PathLike[str]) -> Path:
    """The decision log's path, its folder created; refused now if it cannot be written.

    Failing here (when a server loads the model) is better than failing every request.
    """
    log = Path(path)
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the folder of the decision log {str(log)!r}: {exc}"
        ) from None
    if log.is_dir():
        raise UsageError(f"the decision log {str(log)!r} is a folder, expected a file path")
    target = log if log.exists() else log.parent
    if not os.access(target, os.W_OK):
        raise UsageError(f"the decision log {str(log)!r} cannot be written here")
    return log
